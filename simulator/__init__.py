"""Rehearsal simulator: made-up families and the loopback services they are checked against.

`simulator.families` generates applications with the matching government records,
`simulator.app` serves the platform feed, the data-sharing interfaces and an SMS
gateway, and `simulator.server` starts that service in a subprocess on loopback.
"""
