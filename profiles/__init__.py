"""Strategy profiles as data: one TOML file per profile. Loaded by `chain.profiles`; no code lives here."""
