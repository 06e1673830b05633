"""Shadow reads that really compare: a sample of reads replayed against both sides.

By key (`keys`): rows sampled from the source table read on both sides through the checksum
diff's sides and normalisation (a MongoDB side through the copy engine's mapping). By the
application's own queries (`queries`): a file of read queries, or the source's
`pg_stat_statements`, run on both SQL sides through the read-only path. The figures, examples
and the gate are `tally`'s; the front door and the report are `run`'s.
"""
