"""WeCom group robot webhook (群机器人): adapter (its stand-in is the WeCom one)."""
