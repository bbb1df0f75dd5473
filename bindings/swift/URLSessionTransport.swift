// The library's HTTP transport on Apple platforms (and Linux, through FoundationNetworking):
// URLSession (docs/adr/0015). Every request the library makes (sync, sign-in, photo uploads)
// goes through it, so the platform decides which servers are trusted: App Transport Security,
// the system's roots and the CAs an MDM profile installs; on Linux, the system's CA bundle.
import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Sends the library's requests with `session`. Called on the library's background threads;
/// each call blocks until the answer or the request's own timeout.
public final class URLSessionTransport: HttpTransport, @unchecked Sendable {
    /// The transport every client given none shares: one ephemeral session for the process, as
    /// URLSession is meant to be used (a session per client would be made and torn down with
    /// each; on Linux, FoundationNetworking aborts when a session that served HTTPS is freed).
    public static let shared = URLSessionTransport()

    private let session: URLSession
    private let ownsSession: Bool

    /// A transport over a new ephemeral session of its own (no cookies, no cache), invalidated
    /// when the transport is freed. Prefer `shared`.
    public convenience init() {
        self.init(session: URLSession(configuration: .ephemeral), owned: true)
    }

    /// A transport over the app's `session` (its delegate, its configuration); the app keeps it.
    public convenience init(session: URLSession) {
        self.init(session: session, owned: false)
    }

    private init(session: URLSession, owned: Bool) {
        self.session = session
        self.ownsSession = owned
    }

    deinit {
        // A session holds its delegate and its threads until invalidated.
        if ownsSession { session.finishTasksAndInvalidate() }
    }

    public func send(request: TransportRequest) throws -> TransportResponse {
        guard let url = URL(string: request.url) else {
            throw TransportError.Request(reason: "not a URL: \(request.url)")
        }
        var urlRequest = URLRequest(url: url)
        urlRequest.httpMethod = request.method
        urlRequest.timeoutInterval = Double(request.timeoutMs) / 1000
        for header in request.headers {
            urlRequest.addValue(header.value, forHTTPHeaderField: header.name)
        }
        if request.method != "GET" && request.method != "HEAD" {
            urlRequest.httpBody = request.body
        }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        let task = session.dataTask(with: urlRequest) { data, response, error in
            outcome.result = URLSessionTransport.read(data: data, response: response, error: error)
            done.signal()
        }
        task.resume()
        done.wait()
        return try outcome.result.get()
    }

    private static func read(data: Data?, response: URLResponse?, error: Error?) -> Result<
        TransportResponse, TransportError
    > {
        if let error = error {
            return .failure(classify(error))
        }
        guard let http = response as? HTTPURLResponse else {
            return .failure(.Network(reason: "no HTTP response"))
        }
        let headers = http.allHeaderFields.compactMap { name, value -> TransportHeader? in
            guard let name = name as? String else { return nil }
            return TransportHeader(name: name, value: "\(value)")
        }
        return .success(TransportResponse(status: UInt16(clamping: http.statusCode), headers: headers, body: data ?? Data()))
    }

    private static func classify(_ error: Error) -> TransportError {
        let reason = error.localizedDescription
        guard let urlError = error as? URLError else { return .Network(reason: reason) }
        switch urlError.code {
        case .serverCertificateUntrusted, .serverCertificateHasBadDate, .serverCertificateHasUnknownRoot,
            .serverCertificateNotYetValid, .secureConnectionFailed, .clientCertificateRejected,
            .clientCertificateRequired:
            return .Tls(reason: reason)
        case .timedOut:
            return .Timeout(reason: reason)
        case .badURL, .unsupportedURL:
            return .Request(reason: reason)
        default:
            #if canImport(FoundationNetworking)
                // FoundationNetworking (Linux) reports most of libcurl's failures as .unknown with
                // curl's own text; its TLS failures all name SSL ("SSL certificate problem: unable
                // to get local issuer certificate", "SSL connect error").
                if urlError.code == .unknown && reason.contains("SSL") { return .Tls(reason: reason) }
            #endif
            return .Network(reason: reason)
        }
    }
}

/// The answer, handed from URLSession's queue to the waiting thread (the semaphore orders it).
private final class Outcome: @unchecked Sendable {
    var result: Result<TransportResponse, TransportError> = .failure(.Network(reason: "no answer"))
}
