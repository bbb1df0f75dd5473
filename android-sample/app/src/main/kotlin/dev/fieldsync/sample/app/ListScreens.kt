// Sign-in, the ticket list and the sync status bar.
package dev.fieldsync.sample.app

import androidx.activity.compose.BackHandler
import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.navigationBarsPadding
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.layout.safeDrawingPadding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.foundation.text.KeyboardOptions
import androidx.compose.material3.AlertDialog
import androidx.compose.material3.Button
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.HorizontalDivider
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Scaffold
import androidx.compose.material3.SnackbarHost
import androidx.compose.material3.SnackbarHostState
import androidx.compose.material3.Surface
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.material3.TopAppBar
import androidx.compose.material3.pulltorefresh.PullToRefreshBox
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.text.input.KeyboardType
import androidx.compose.ui.text.input.PasswordVisualTransformation
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import dev.fieldsync.Status
import dev.fieldsync.SyncStatus
import dev.fieldsync.TicketSummary
import dev.fieldsync.sample.TicketsViewModel
import java.text.DateFormat
import java.util.Date

@Composable
fun SignInScreen(state: AppState.SignedOut, onSignIn: (url: String, token: String) -> Unit) {
    var url by rememberSaveable { mutableStateOf("https://") }
    var token by rememberSaveable { mutableStateOf("") }
    Column(
        Modifier.fillMaxSize().safeDrawingPadding().padding(24.dp),
        verticalArrangement = Arrangement.spacedBy(12.dp),
    ) {
        Text("Sign in", style = MaterialTheme.typography.headlineSmall)
        OutlinedTextField(
            url, { url = it }, Modifier.fillMaxWidth(), label = { Text("Server") }, singleLine = true,
            keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.Uri),
        )
        OutlinedTextField(
            token, { token = it }, Modifier.fillMaxWidth(), label = { Text("Device token") }, singleLine = true,
            visualTransformation = PasswordVisualTransformation(),
        )
        state.error?.let { Text(it, color = MaterialTheme.colorScheme.error) }
        Button(onClick = { onSignIn(url, token) }, enabled = !state.busy && token.isNotBlank()) { Text("Sign in") }
    }
}

/** The list, or the open ticket's detail; refusals and failures as a snackbar. */
@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun TicketsScreens(model: TicketsViewModel, onSignOut: () -> Unit) {
    val state by model.state.collectAsStateWithLifecycle()
    val snackbar = remember { SnackbarHostState() }
    var confirmSignOut by remember { mutableStateOf(false) }
    LaunchedEffect(state.message) {
        state.message?.let {
            snackbar.showSnackbar(it)
            model.messageShown()
        }
    }
    val selected = state.selected
    BackHandler(enabled = selected != null) { model.closeTicket() }
    Scaffold(
        topBar = {
            TopAppBar(
                title = { Text(selected?.title ?: "Tickets") },
                navigationIcon = { if (selected != null) TextButton(onClick = model::closeTicket) { Text("Back") } },
                actions = { if (selected == null) TextButton(onClick = { confirmSignOut = true }) { Text("Sign out") } },
            )
        },
        bottomBar = { SyncStatusBar(state.sync) },
        snackbarHost = { SnackbarHost(snackbar) },
    ) { padding ->
        if (selected != null) {
            TicketDetailScreen(selected, state.busy, model, snackbar, Modifier.padding(padding))
        } else {
            PullToRefreshBox(
                isRefreshing = state.busy,
                onRefresh = { model.refresh() },
                modifier = Modifier.padding(padding).fillMaxSize(),
            ) {
                LazyColumn(Modifier.fillMaxSize()) {
                    items(state.tickets, key = { it.id }) { ticket ->
                        TicketRow(ticket, onClick = { model.open(ticket.id) })
                        HorizontalDivider()
                    }
                }
            }
        }
    }
    if (confirmSignOut) {
        val pending = state.sync?.let { it.pendingTickets + it.pendingUploads } ?: 0UL
        AlertDialog(
            onDismissRequest = { confirmSignOut = false },
            title = { Text("Sign out?") },
            text = {
                Text(
                    if (pending > 0UL) "$pending changes have not reached the server and will be lost." else
                        "This phone's copy of the tickets is deleted.",
                )
            },
            confirmButton = { TextButton(onClick = { confirmSignOut = false; onSignOut() }) { Text("Sign out") } },
            dismissButton = { TextButton(onClick = { confirmSignOut = false }) { Text("Cancel") } },
        )
    }
}

@Composable
private fun TicketRow(ticket: TicketSummary, onClick: () -> Unit) {
    Column(Modifier.fillMaxWidth().clickable(onClick = onClick).padding(16.dp, 12.dp)) {
        Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            Text(ticket.index.title, Modifier.weight(1f), style = MaterialTheme.typography.titleMedium)
            Text(ticket.index.status.label(), style = MaterialTheme.typography.labelLarge)
        }
        Text("${ticket.index.customerName} · ${ticket.index.customerAddress}", style = MaterialTheme.typography.bodyMedium)
        val flags = buildList {
            add(ticket.index.priority.name.lowercase())
            ticket.index.slaDueAt?.let { add("due ${formatTime(it)}") }
            if (ticket.pending) add("not synced yet")
            if (ticket.index.conflicts > 0u) add("${ticket.index.conflicts} refused")
            if (ticket.quarantined != null) add("set aside: cannot be read")
            ticket.rejected?.let { add("server refused: $it") }
        }
        Text(flags.joinToString(" · "), style = MaterialTheme.typography.bodySmall)
    }
}

/** Online or not, syncing, what waits to go up, the last error. */
@Composable
fun SyncStatusBar(sync: SyncStatus?) {
    val text = when {
        sync == null -> "…"
        sync.lastError != null -> "Sync failed: ${sync.lastError}"
        sync.syncing -> "Syncing…"
        else -> buildString {
            append(if (sync.online) "Online" else "Offline")
            if (sync.pendingTickets > 0UL) append(" · ${sync.pendingTickets} tickets to send")
            if (sync.pendingUploads > 0UL) {
                append(" · ${sync.pendingUploads} uploads (${sync.pendingUploadBytes.toLong() / 1024} KB)")
            }
            sync.lastSuccessAt?.let { append(" · synced ${formatTime(it)}") }
        }
    }
    Surface(tonalElevation = 3.dp) {
        Text(text, Modifier.fillMaxWidth().navigationBarsPadding().padding(16.dp, 8.dp), style = MaterialTheme.typography.bodySmall)
    }
}

fun Status.label(): String = name.lowercase().replace('_', ' ')

fun formatTime(millis: Long): String = DateFormat.getDateTimeInstance(DateFormat.SHORT, DateFormat.SHORT).format(Date(millis))
