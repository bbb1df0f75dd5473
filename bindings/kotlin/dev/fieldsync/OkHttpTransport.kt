// The library's HTTP transport on Android and the JVM: OkHttp (docs/adr/0015). Every request
// the library makes (sync, sign-in, photo uploads) goes through it, so the platform decides
// which servers are trusted: on Android the system and user CAs as the app's network security
// config allows (enterprise and MDM CAs included), on the JVM the default trust store
// (javax.net.ssl.trustStore) — or exactly the trust store given to [OkHttpTransport.trusting].
package dev.fieldsync

import java.io.IOException
import java.io.InterruptedIOException
import java.security.GeneralSecurityException
import java.security.KeyStore
import java.util.concurrent.TimeUnit
import javax.net.ssl.SSLContext
import javax.net.ssl.SSLException
import javax.net.ssl.TrustManagerFactory
import javax.net.ssl.X509TrustManager
import okhttp3.Headers
import okhttp3.OkHttpClient
import okhttp3.Request
import okhttp3.RequestBody.Companion.toRequestBody

/**
 * Sends the library's requests with [http]. Called on the library's background threads; each
 * call blocks until the answer or the request's own timeout.
 */
class OkHttpTransport(private val http: OkHttpClient = OkHttpClient()) : HttpTransport {
    companion object {
        /** One transport with the platform's trust, shared by every client that is given none. */
        val platform: OkHttpTransport by lazy { OkHttpTransport() }

        /** A transport that trusts exactly the CAs in [trustStore] (a private CA, a pinned deployment). */
        fun trusting(trustStore: KeyStore): OkHttpTransport {
            val factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm())
            factory.init(trustStore)
            val trustManager = factory.trustManagers.filterIsInstance<X509TrustManager>().single()
            val context = SSLContext.getInstance("TLS")
            context.init(null, arrayOf(trustManager), null)
            return OkHttpTransport(OkHttpClient.Builder().sslSocketFactory(context.socketFactory, trustManager).build())
        }
    }

    override fun send(request: TransportRequest): TransportResponse {
        val headers = Headers.Builder().apply { request.headers.forEach { add(it.name, it.value) } }.build()
        val body = when (request.method) {
            "GET", "HEAD" -> null
            else -> request.body.toRequestBody(null)
        }
        val call = try {
            http.newCall(Request.Builder().url(request.url).headers(headers).method(request.method, body).build())
        } catch (e: IllegalArgumentException) {
            throw TransportException.Request("${e.message}")
        }
        call.timeout().timeout(request.timeoutMs.toLong(), TimeUnit.MILLISECONDS)
        try {
            call.execute().use { response ->
                return TransportResponse(
                    status = response.code.toUShort(),
                    headers = response.headers.map { (name, value) -> TransportHeader(name, value) },
                    body = response.body.bytes(),
                )
            }
        } catch (e: SSLException) {
            // SSLHandshakeException, SSLPeerUnverifiedException: the certificate is not trusted.
            throw TransportException.Tls(describe(e))
        } catch (e: GeneralSecurityException) {
            throw TransportException.Tls(describe(e))
        } catch (e: InterruptedIOException) {
            throw TransportException.Timeout(describe(e))
        } catch (e: IOException) {
            throw TransportException.Network(describe(e))
        }
    }

    private fun describe(e: Throwable): String =
        generateSequence(e) { it.cause }.mapNotNull { it.message }.distinct().joinToString(": ").ifEmpty { "$e" }
}
