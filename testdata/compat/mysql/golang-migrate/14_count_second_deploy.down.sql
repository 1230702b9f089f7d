UPDATE counter SET n = n - 1;
