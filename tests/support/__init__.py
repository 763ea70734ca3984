"""Helpers shared by tests: real servers and processes that tests start on 127.0.0.1.

`support.scripted_llm.ScriptedLLM` is an OpenAI-compatible Chat Completions server
whose replies a test scripts (see that module's docstring).
"""
