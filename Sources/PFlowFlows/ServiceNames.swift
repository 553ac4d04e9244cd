import PFlowCore
import PFlowWire

/// What a service is called (DESIGN.md, "Naming a service"): the protocol
/// its traffic shows first, the port registry second, in the words users
/// use (`dns`, not the registry's `domain`).
public enum ServiceNames {
    /// The service name of a flow on `port` whose payload said `app`, with
    /// `portName` the registry's name for the port (nil: unnamed).
    public static func name(app: AppProtocol?, port: UInt16, proto: IPProtocol, portName: String?) -> String? {
        name(app: app, port: port, proto: proto, facingName: portName.map(userFacing))
    }

    /// As above, with the port's name already as users say it.
    @inline(__always)
    public static func name(app: AppProtocol?, port: UInt16, proto: IPProtocol, facingName portName: String?) -> String? {
        name(app: app, port: port) { portName }
    }

    /// As above, the port's name (as users say it) asked for only when the
    /// answer is made from it: the flow's record reads it from the
    /// registry then, not for every flow (a retain and a release each).
    @inline(__always)
    static func name(app: AppProtocol?, port: UInt16, facingName: () -> String?) -> String? {
        guard let app else { return facingName() }
        switch app {
        case .tls:
            // TLS is HTTPS on HTTPS's ports; on the other ports customary
            // for TLS the registry knows which protocol rides it (imaps,
            // ldaps, …); elsewhere all the traffic says is "tls".
            if port == 443 || port == 8443 { return "https" }
            if app.isCustomary(port), let portName = facingName() { return portName }
            return "tls"
        case .dns:
            // DNS's format also carries mDNS, LLMNR and NetBIOS names: on
            // their ports the registry says which.
            if port != 53, app.isCustomary(port), let portName = facingName() { return portName }
            return "dns"
        case .smtpOrFTP:
            // A bare 220 greeting: the port says which of the two it is.
            if let portName = facingName(), portName == "smtp" || portName == "ftp" || portName == "submission" {
                return portName
            }
            return app.name
        default:
            return app.name
        }
    }

    /// The registry's name as users say it.
    public static func userFacing(_ registryName: String) -> String {
        switch registryName {
        case "domain": return "dns"
        case "microsoft-ds": return "smb"
        case "ms-wbt-server": return "rdp"
        case "isakmp": return "ike"
        case "domain-s": return "dns-over-tls"
        default: return registryName
        }
    }

    /// A name from a user's file as it may be printed: control characters
    /// as `\xNN` (C1 ones as `\u{NN}`), and a leading `=`, `+`, `@` or `-`
    /// (not before a digit) behind a `'`, so no CSV cell starts a
    /// spreadsheet formula.
    public static func safe(_ name: String) -> String {
        var out = ""
        for u in name.unicodeScalars {
            if u.value < 0x20 || u.value == 0x7F {
                let hex = String(u.value, radix: 16, uppercase: true)
                out += "\\x" + (hex.count < 2 ? "0" : "") + hex
            } else if u.value >= 0x80 && u.value < 0xA0 {
                out += "\\u{" + String(u.value, radix: 16, uppercase: true) + "}"
            } else {
                out.unicodeScalars.append(u)
            }
        }
        let scalars = Array(out.unicodeScalars)
        if let first = scalars.first {
            let second = scalars.count > 1 ? scalars[1] : nil
            let isDigit = second.map { $0.value >= 0x30 && $0.value <= 0x39 } ?? false
            if first == "=" || first == "+" || first == "@" || (first == "-" && !isDigit) { out = "'" + out }
        }
        return out
    }

    /// UDP ports that take traffic one way by design: nothing answers them,
    /// and that is not a failure (syslog, SNMP traps, flow export).
    public static func isOneWayByDesign(port: UInt16, proto: IPProtocol) -> Bool {
        guard proto == .udp else { return false }
        switch port {
        case 514, 162, 2055, 4739, 6343, 9995, 9996: return true
        default: return false
        }
    }

    /// A destination no server answers from: multicast (224/4, ff00::/8),
    /// the limited broadcast, and IPv4 addresses ending in .255 (a subnet
    /// broadcast under the common masks; pflow doesn't know the mask).
    public static func isGroupAddress(_ a: IPAddress) -> Bool {
        if a.isIPv4Mapped {
            let v = UInt32(truncatingIfNeeded: a.low)
            return v >> 28 == 0xE || v & 0xFF == 0xFF
        }
        return a.high >> 56 == 0xFF
    }
}

extension AppProtocol {
    /// Whether `port` is one this protocol is registered or customary on;
    /// elsewhere it is a `nonstandard-port` finding.
    public func isCustomary(_ port: UInt16) -> Bool {
        switch self {
        case .tls:
            switch port { case 443, 8443, 993, 995, 465, 636, 853, 990, 5061, 5223, 6697, 8883: return true; default: return false }
        case .http:
            switch port { case 80, 8080, 3128, 8008, 591: return true; default: return false }
        case .ssh: return port == 22
        case .smtp:
            switch port { case 25, 587, 465, 2525: return true; default: return false }
        case .ftp: return port == 21
        case .smtpOrFTP:
            switch port { case 21, 25, 587, 2525: return true; default: return false }
        case .pop3: return port == 110
        case .imap: return port == 143
        case .redis: return port == 6379
        case .dns:
            switch port { case 53, 137, 5353, 5355: return true; default: return false }  // NetBIOS names use DNS's format
        case .ntp: return port == 123
        case .quic: return port == 443
        }
    }
}
