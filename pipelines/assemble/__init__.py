"""Study-area assembly from a config: read every layer, place the study, name what is absent."""
