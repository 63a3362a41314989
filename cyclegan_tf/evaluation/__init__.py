"""How good a run is: FID/KID and L1/PSNR (`metrics`, `features`), the FCN-score, exact scores of the
embedded sets, and whole-run evaluation (`evaluate`)."""
