"""STS (IEC 62055-41) prepayment token engine and meter simulator, pure Python."""
