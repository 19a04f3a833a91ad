"""Configuration of every process: the settings read from the environment (`settings`), the
event store they name (`stores`) and the owner-only files and folders of the data folder
(`private_files`). At the bottom of the graph: it may import `domain`, nothing else of the project."""
