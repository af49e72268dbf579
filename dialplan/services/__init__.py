"""What routes and flows both use to act on calls through Asterisk's AMI: transfers
(R-1.12), outbound calls (R-1.13), and the heartbeat that keeps this server's calls alive
and closes the calls of servers that are gone."""
