"""Export and import: tables to files and back, for machines that cannot see each other.

* `export_tables(ExportRequest) -> dict` (`export`): each table streamed in keyset batches
  (`Backend.iter_rows`) to Parquet (zstd, typed from the type map), CSV.gz or JSONL.gz, then a
  manifest (`manifest.json`: row counts, file sizes and SHA-256, per-table row checksums, the
  introspected source schema, the tool version) written last, so a manifest always describes
  complete files.
* `import_tables(ImportRequest) -> dict` (`load`): verifies every file against the manifest
  before touching the target, plans the target schema and loads through the copy engine's
  planning (`move.schema`, `move.runner` checks) and the backends' bulk writers, then reads the
  target back and compares counts and row checksums with the manifest.

Modules: `columns` (a column's Arrow type and text form), `formats` (one writer and reader per
file format), `rowsum` (the canonical row checksum), `manifest`, `export`, `load`.
"""
