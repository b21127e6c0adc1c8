"""Click commands. Each module contains one command or group and stays thin over console.services."""
