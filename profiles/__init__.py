"""Strategy profiles as data: one TOML file per profile. Installed as `chain.profiles`, loaded by `chain.strategy`; no code lives here."""
