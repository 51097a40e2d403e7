"""The back office: accounts, their saved voices, keys, operators, money in, moderation and review, erasure, audit."""
