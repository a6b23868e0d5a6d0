"""The aggregates of the state store, written once in the SQL both engines speak."""
