public enum MailTunnelVersion { public static let string = "0.1.0" }
