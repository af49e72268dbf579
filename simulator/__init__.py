"""A fake Asterisk: plays callers and agent phones against Hotline over the real AGI and AMI
wire."""
