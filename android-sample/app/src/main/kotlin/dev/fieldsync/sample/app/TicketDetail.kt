// The open ticket: what it is, where, and every action. Which actions a ticket allows is the
// library's business (its workflow refuses the others with a reason, shown as a snackbar), so
// the screen offers them all and stays thin.
package dev.fieldsync.sample.app

import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.result.contract.ActivityResultContracts
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.ExperimentalLayoutApi
import androidx.compose.foundation.layout.FlowRow
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.aspectRatio
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.text.KeyboardOptions
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.AlertDialog
import androidx.compose.material3.Button
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.SnackbarHostState
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.text.input.KeyboardType
import androidx.compose.ui.unit.dp
import dev.fieldsync.Ticket
import dev.fieldsync.sample.TicketsViewModel
import java.io.File
import kotlinx.coroutines.launch

@OptIn(ExperimentalLayoutApi::class)
@Composable
fun TicketDetailScreen(
    ticket: Ticket,
    busy: Boolean,
    model: TicketsViewModel,
    snackbar: SnackbarHostState,
    modifier: Modifier = Modifier,
) {
    val context = LocalContext.current
    val scope = rememberCoroutineScope()
    fun say(text: String) {
        scope.launch { snackbar.showSnackbar(text) }
    }

    // Check-in: ask for location if needed, then a fresh fix from the fused provider.
    fun checkInHere() = scope.launch {
        val fix = currentLocation(context)
        if (fix == null) say("No location fix: turn location on and try again") else model.checkIn(fix)
    }
    val askLocation = rememberLauncherForActivityResult(ActivityResultContracts.RequestMultiplePermissions()) { granted ->
        if (granted.values.any { it }) checkInHere() else say("Check-in needs the phone's location")
    }

    // Photo: the camera app writes into our FileProvider file; the library takes it from there.
    var caption by rememberSaveable { mutableStateOf("") }
    var photoPath by rememberSaveable { mutableStateOf<String?>(null) } // survives the camera's round trip
    val takePicture = rememberLauncherForActivityResult(ActivityResultContracts.TakePicture()) { saved ->
        val path = photoPath ?: return@rememberLauncherForActivityResult
        photoPath = null
        if (!saved) {
            File(path).delete()
            return@rememberLauncherForActivityResult
        }
        scope.launch {
            val where = lastLocation(context)
            // Stored (resized, metadata stripped) in the encrypted store: the camera's file can go.
            model.addPhoto(path, caption.trim(), where).invokeOnCompletion { File(path).delete() }
            caption = ""
        }
    }

    var rejecting by remember { mutableStateOf(false) }
    var completing by remember { mutableStateOf(false) }
    var note by rememberSaveable { mutableStateOf("") }
    var sku by rememberSaveable { mutableStateOf("") }
    var qty by rememberSaveable { mutableStateOf("1") }
    var minutes by rememberSaveable { mutableStateOf("") }
    var timeKind by rememberSaveable { mutableStateOf("labour") }
    var signer by rememberSaveable { mutableStateOf("") }
    val signature = remember(ticket.id) { SignatureState() }

    Column(
        modifier.verticalScroll(rememberScrollState()).padding(16.dp),
        verticalArrangement = Arrangement.spacedBy(12.dp),
    ) {
        Text("${ticket.status.label()} · ${ticket.priority.name.lowercase()}", style = MaterialTheme.typography.labelLarge)
        if (ticket.description.isNotEmpty()) Text(ticket.description)
        Text("${ticket.customer.name} · ${ticket.customer.phone}", style = MaterialTheme.typography.titleMedium)
        Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            Text(ticket.customer.address, Modifier.weight(1f))
            OutlinedButton(onClick = { if (!navigateTo(context, ticket)) say("No maps app is installed") }) { Text("Navigate") }
        }
        ticket.sla.arriveBy?.let { Text("Arrive by ${formatTime(it)}") }
        ticket.sla.resolveBy?.let { Text("Resolve by ${formatTime(it)}") }
        ticket.conflicts.forEach { Text(it.reason, color = MaterialTheme.colorScheme.error) }

        Section("Status")
        FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            Button(onClick = { model.accept() }, enabled = !busy) { Text("Accept") }
            OutlinedButton(onClick = { rejecting = true }, enabled = !busy) { Text("Reject") }
            Button(onClick = { model.startTravel() }, enabled = !busy) { Text("Travel") }
            Button(
                onClick = { if (hasLocationPermission(context)) checkInHere() else askLocation.launch(locationPermissions) },
                enabled = !busy,
            ) { Text("Check in") }
            Button(onClick = { model.startWork() }, enabled = !busy) { Text("Work") }
            OutlinedButton(onClick = { model.pause() }, enabled = !busy) { Text("Pause") }
            OutlinedButton(onClick = { model.resume() }, enabled = !busy) { Text("Resume") }
            Button(onClick = { completing = true }, enabled = !busy) { Text("Complete") }
        }

        Section("Note")
        OutlinedTextField(note, { note = it }, Modifier.fillMaxWidth(), label = { Text("What was done, what was found") })
        Button(onClick = { model.addNote(note.trim()); note = "" }, enabled = !busy && note.isNotBlank()) { Text("Add note") }

        Section("Part")
        Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            OutlinedTextField(sku, { sku = it }, Modifier.weight(2f), label = { Text("SKU") }, singleLine = true)
            OutlinedTextField(
                qty, { qty = it.filter(Char::isDigit) }, Modifier.weight(1f), label = { Text("Qty") }, singleLine = true,
                keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.Number),
            )
        }
        val qtyValue = qty.toUIntOrNull()
        Button(
            onClick = { model.addPart(sku.trim(), qtyValue ?: 1u); sku = ""; qty = "1" },
            enabled = !busy && sku.isNotBlank() && qtyValue != null && qtyValue > 0u,
        ) { Text("Add part") }

        Section("Time")
        Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            OutlinedTextField(
                minutes, { minutes = it.filter(Char::isDigit) }, Modifier.weight(1f), label = { Text("Minutes") },
                singleLine = true, keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.Number),
            )
            OutlinedTextField(timeKind, { timeKind = it }, Modifier.weight(1f), label = { Text("Kind") }, singleLine = true)
        }
        val minutesValue = minutes.toUIntOrNull()
        Button(
            onClick = { model.logTime(minutesValue ?: 0u, timeKind.trim()); minutes = "" },
            enabled = !busy && minutesValue != null && minutesValue > 0u && timeKind.isNotBlank(),
        ) { Text("Log time") }

        Section("Photos (${ticket.photos.size})")
        OutlinedTextField(caption, { caption = it }, Modifier.fillMaxWidth(), label = { Text("Caption") }, singleLine = true)
        Button(
            onClick = {
                val (file, uri) = newPhotoFile(context)
                photoPath = file.path
                takePicture.launch(uri)
            },
            enabled = !busy,
        ) { Text("Take photo") }
        ticket.photos.forEach { Text("${it.caption.ifEmpty { "photo" }} · ${it.width}×${it.height}") }

        Section("Signature")
        ticket.signature?.let { Text("Signed by ${it.signer}, ${formatTime(it.signedAt)}") }
        SignaturePad(signature, Modifier.fillMaxWidth().aspectRatio(2.5f))
        OutlinedTextField(signer, { signer = it }, Modifier.fillMaxWidth(), label = { Text("Signed by") }, singleLine = true)
        Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            OutlinedButton(onClick = signature::clear) { Text("Clear") }
            Button(
                onClick = { model.sign(signer.trim(), signature.toStrokes()); signature.clear() },
                enabled = !busy && !signature.isEmpty && signer.isNotBlank(),
            ) { Text("Save signature") }
        }

        Section("History")
        ticket.notes.forEach { Text("${formatTime(it.at)} ${it.by}: ${it.text}") }
        ticket.parts.forEach { Text("${it.qty} × ${it.sku}") }
        ticket.timeEntries.forEach { Text("${it.minutes} min ${it.kind}") }
        ticket.events.asReversed().forEach { Text("${formatTime(it.at)} ${it.kind.replace('_', ' ')} (${it.by})") }
    }

    if (rejecting) {
        TextDialog("Reject the ticket", "Why", onDismiss = { rejecting = false }) { model.reject(it) }
    }
    if (completing) {
        TextDialog("Complete the job", "Summary for the customer", onDismiss = { completing = false }) { model.complete(it) }
    }
}

@Composable
private fun Section(title: String) {
    Text(title, Modifier.padding(top = 8.dp), style = MaterialTheme.typography.titleSmall)
}

/** A dialog asking for one line of text (a rejection's reason, the completion summary). */
@Composable
private fun TextDialog(title: String, label: String, onDismiss: () -> Unit, onConfirm: (String) -> Unit) {
    var text by rememberSaveable { mutableStateOf("") }
    AlertDialog(
        onDismissRequest = onDismiss,
        title = { Text(title) },
        text = { OutlinedTextField(text, { text = it }, label = { Text(label) }) },
        confirmButton = {
            TextButton(onClick = { onConfirm(text.trim()); onDismiss() }, enabled = text.isNotBlank()) { Text("OK") }
        },
        dismissButton = { TextButton(onClick = onDismiss) { Text("Cancel") } },
    )
}
