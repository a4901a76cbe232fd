"""The bottom layer every other part of codefest stands on: errors, registries, the workspace, offline defaults."""
