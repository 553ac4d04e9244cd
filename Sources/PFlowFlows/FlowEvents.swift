import PFlowCore

/// What a flow table tells the rest of the analysis, in the order it
/// happens: connection attempts (for the clients' ephemeral ranges) and
/// ended flows. Every table has exactly one receiver at a time; nothing the
/// table does goes unreported. Calls come per flow, never per packet.
///
/// Two receivers exist: `DirectFlowEvents` applies each event at once (one
/// thread), and the pipeline's event ring carries them to whichever thread
/// reports, in the same order, so both give the same answer.
public protocol FlowEvents: AnyObject {
    /// A SYN without ACK opened a connection from `client`:`port`.
    func sawConnectionAttempt(from client: IPAddress, port: UInt16)
    /// `state` ended for `reason`: learn from it, then report it. `name`:
    /// the server name it carries (`state.nameSerial`), read from the
    /// tracker's names table while it still held it; valid for the call.
    func ended(_ state: FlowState, _ reason: EndReason, name: UnsafePointer<ServerName>?)
}

extension FlowEvents {
    public func ended(_ state: FlowState, _ reason: EndReason) { ended(state, reason, name: nil) }
}

/// Events applied where they happen: `knowledge` learns from each, then
/// `report` gets every ended flow.
public final class DirectFlowEvents: FlowEvents {
    public let knowledge: TrafficKnowledge
    /// Set once, by the owner, right after the table is made (the owner's
    /// report usually needs the table itself).
    public var report: (FlowState, EndReason) -> Void = { _, _ in
        assertionFailure("DirectFlowEvents.report was never set: a flow would be lost")
    }

    public init(knowledge: TrafficKnowledge) {
        self.knowledge = knowledge
    }

    public convenience init(knowledge: TrafficKnowledge, report: @escaping (FlowState, EndReason) -> Void) {
        self.init(knowledge: knowledge)
        self.report = report
    }

    public func sawConnectionAttempt(from client: IPAddress, port: UInt16) {
        knowledge.sawConnectionAttempt(from: client, port: port)
    }

    /// When set, gets every ended flow with its name instead of `report`.
    public var reportNamed: ((FlowState, EndReason, UnsafePointer<ServerName>?) -> Void)?

    public func ended(_ state: FlowState, _ reason: EndReason, name: UnsafePointer<ServerName>?) {
        knowledge.learn(from: state)
        if let reportNamed { reportNamed(state, reason, name) } else { report(state, reason) }
    }
}
