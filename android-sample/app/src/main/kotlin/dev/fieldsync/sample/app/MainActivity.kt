// One activity; Compose draws everything from AppViewModel's and TicketsViewModel's state.
package dev.fieldsync.sample.app

import android.os.Bundle
import androidx.activity.ComponentActivity
import androidx.activity.compose.setContent
import androidx.activity.enableEdgeToEdge
import androidx.activity.viewModels
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.layout.safeDrawingPadding
import androidx.compose.material3.Button
import androidx.compose.material3.CircularProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Surface
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle

class MainActivity : ComponentActivity() {
    private val app: AppViewModel by viewModels()

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        enableEdgeToEdge()
        setContent {
            MaterialTheme {
                Surface(Modifier.fillMaxSize()) { SampleApp(app) }
            }
        }
    }
}

@Composable
fun SampleApp(app: AppViewModel) {
    val state by app.state.collectAsStateWithLifecycle()
    when (val s = state) {
        AppState.Opening -> Box(Modifier.fillMaxSize(), contentAlignment = Alignment.Center) { CircularProgressIndicator() }
        is AppState.SignedOut -> SignInScreen(s, onSignIn = app::signIn)
        is AppState.SignedIn -> TicketsScreens(s.tickets, onSignOut = app::signOut)
        is AppState.Failed -> Column(
            Modifier.fillMaxSize().safeDrawingPadding().padding(24.dp),
            verticalArrangement = Arrangement.spacedBy(16.dp),
        ) {
            Text("The store did not open", style = MaterialTheme.typography.titleLarge)
            Text(s.reason)
            Text("Signing out deletes this phone's copy; what had not synced is lost.")
            Button(onClick = app::signOut) { Text("Sign out") }
        }
    }
}
