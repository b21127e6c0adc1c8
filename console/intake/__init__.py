"""Reading, header mapping, normalisation and validation of application rows.

Nothing here touches the database: the intake service in console.services.intake
stores what these modules accept.
"""
