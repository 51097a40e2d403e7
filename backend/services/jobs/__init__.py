"""The job hub: submission (with dedupe and billing), lifecycle, waiting, lookup, the request cache, the ledger."""
