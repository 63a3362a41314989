"""The models by name (`registry`), each in a module of its own, with what they share (`base`, `builders`,
`precision`, `schedules`)."""
