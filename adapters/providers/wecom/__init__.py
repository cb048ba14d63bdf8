"""WeCom (企业微信) application messages: adapter and the qyapi stand-in (serves the robot too)."""
