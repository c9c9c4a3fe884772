import Testing
import MailTunnelProtocols
@testable import MailTunnel

@Suite struct ConfigCheckReportTests {
    @Test func printsEveryKeyUnderItsSection() throws {
        let run = try RunConfig.load(arguments: ["--accept", "993", "--connect", "143", "--user", "mail"])
        let text = CheckReport.render(run)
        #expect(text == """
            # mailtunnel \(MailTunnelVersion.string) --check: configuration is valid, 1 listener

            # process-wide
            metrics = off
            user = mail
            # group is not set (default: the user's group)
            # pid-file is not set (default: none)
            log-level = info
            # log is not set (default: stderr on a terminal or under systemd, else syslog if /dev/log exists)
            log-format = text
            # state-dir is not set (default: $STATE_DIRECTORY, else /var/lib/mailtunnel)

            [993]
            accept = 993
            connect = 127.0.0.1:143
            protocol = imap
            starttls = no
            client = no
            # verify-host is not set (default: the connect host)
            # cert is not set (default: self-signed, generated once in state-dir)
            # key is not set (default: the cert file)
            # ocsp-file is not set (default: none)
            tls-min = 1.2
            ciphers = \(OptionTable.ciphers.defaultValue)
            # ciphersuites is not set (default: OpenSSL's)
            verify = none
            # ca-file is not set (default: none)
            # ca-path is not set (default: none)
            # crl-file is not set (default: none)
            verify-depth = 9
            # allow-subject is not set (default: any verified holder)
            auth = none
            sasl-service = smtp
            # sasl-config-dir is not set (default: libsasl2's search path (/etc/sasl2))
            xclient = no
            # local-domains is not set (default: none)
            # trusted-networks is not set (default: none)
            # sender-login-map is not set (default: none)
            proxy-protocol = none
            accept-proxy-protocol = no
            accept-proxy-from = 127.0.0.0/8, ::1
            handshake-timeout = 30s
            connect-timeout = 10s
            idle-timeout = 30m
            max-connections = 10000
            max-connections-per-ip = none
            shutdown-grace = 30s
            # ticket-key-file is not set (default: none: keys generated in memory)
            ticket-lifetime = 1h
            reuse-port = no

            """)
    }

    @Test func nativeConfigRoundTrips() throws {
        let dir = try TempDir()
        let cert = try dir.write("c.pem", "pem")
        let ca = try dir.write("ca.pem", "pem")
        let file = try dir.write("mail.conf", """
            pid-file = /run/mailtunnel.pid
            log-level = debug
            [imaps]
            accept = [::]:993
            connect = 143
            connect = backup.internal:143
            cert = \(cert)
            verify = require
            ca-file = \(ca)
            allow-subject = alice@example.org
            allow-subject = Bob Smith
            idle-timeout = 2500ms
            [submission]
            accept = 127.0.0.1:587
            connect = 10025
            starttls = yes
            auth = sasl
            xclient = yes
            sasl-service = smtpd
            metrics = 9100
            max-connections-per-ip = 30
            tls-min = 1.3
            ciphersuites = TLS_AES_256_GCM_SHA384
            """)
        let original = try RunConfig.load(arguments: ["--config", file])
        let printed = CheckReport.render(original)
        let reparsed = try RunConfig.parse(configText: printed, file: "check-output.conf")
        #expect(reparsed.listeners == original.listeners)
        #expect(reparsed.daemon == original.daemon)
        #expect(CheckReport.render(reparsed) == printed)
    }

    @Test func stunnelMigrationRoundTrips() throws {
        let dir = try TempDir()
        let original = try RunConfig.load(arguments: ["--stunnel-config", try StunnelTranslatorTests.realistic(dir)])
        let printed = CheckReport.render(original)
        #expect(printed.contains("\nlog = /var/log/stunnel4/stunnel.log\n"))
        #expect(printed.contains("[pop3s]\naccept = [::]:995\nconnect = 127.0.0.1:110\nprotocol = pop3\n"))
        let reparsed = try RunConfig.parse(configText: printed, file: "migrated.conf")
        #expect(reparsed.listeners == original.listeners)
        #expect(reparsed.daemon.pidFile == "/var/run/stunnel4/mail.pid")
        #expect(reparsed.daemon.foreground == nil, "stunnel-only settings are comments in native syntax")
    }
}
