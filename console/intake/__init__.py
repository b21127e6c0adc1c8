"""Reading, header mapping, normalisation and validation of application rows.

Nothing here touches the database: the intake service in console.services.intake
stores what these modules accept.
"""

# Rows per transaction. Larger chunks write each index page fewer times, so 5,000
# rows per chunk stored faster than 1,000 in every run (BENCHMARKS.md). A crash
# loses at most one chunk, which the next run of the same file stores.
DEFAULT_CHUNK_SIZE = 5000
