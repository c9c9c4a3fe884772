import MailTunnel
print(MailTunnelVersion.string)
