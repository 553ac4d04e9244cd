import PFlowCore

/// IP in IP: an IP packet is the payload of another, with no header of its
/// own between them. The outer header's protocol names the inner version:
/// IPv4 encapsulation (RFC 2003, "4in4", and RFC 2473's 4in6) and IPv6
/// encapsulation (RFC 4213's 6in4, RFC 2473's 6in6). The inner packet's own
/// header view does all the checking.
extension IPProtocol {
    static var ipv4Encapsulation: IPProtocol { IPProtocol(rawValue: 4) }
    static var ipv6Encapsulation: IPProtocol { IPProtocol(rawValue: 41) }
}
