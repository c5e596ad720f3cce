"""Model runtime: the backend protocol, the llama.cpp worker process and its supervisor."""
