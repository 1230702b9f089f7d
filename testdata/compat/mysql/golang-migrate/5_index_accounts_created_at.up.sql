CREATE INDEX accounts_created_at ON accounts (created_at) ALGORITHM=INPLACE LOCK=NONE;
