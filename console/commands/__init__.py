"""Click commands; each module holds one command or group and stays thin over console.services."""
