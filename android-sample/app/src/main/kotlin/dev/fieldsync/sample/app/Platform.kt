// The platform's parts the detail screen needs: the fused location, the camera's file, the
// maps app. Each is small and separate from the screens.
package dev.fieldsync.sample.app

import android.Manifest
import android.annotation.SuppressLint
import android.content.ActivityNotFoundException
import android.content.Context
import android.content.Intent
import android.content.pm.PackageManager
import android.net.Uri
import androidx.core.content.ContextCompat
import androidx.core.content.FileProvider
import com.google.android.gms.location.LocationServices
import com.google.android.gms.location.Priority
import com.google.android.gms.tasks.CancellationTokenSource
import dev.fieldsync.Location
import dev.fieldsync.Ticket
import java.io.File
import kotlinx.coroutines.tasks.await

/** The location permissions the check-in asks for. */
val locationPermissions = arrayOf(Manifest.permission.ACCESS_FINE_LOCATION, Manifest.permission.ACCESS_COARSE_LOCATION)

fun hasLocationPermission(context: Context): Boolean = locationPermissions.any {
    ContextCompat.checkSelfPermission(context, it) == PackageManager.PERMISSION_GRANTED
}

/**
 * A fresh fix from the fused location provider (the check-in), or null without permission or
 * when none comes (the library refuses a check-in without a fix it can judge).
 */
@SuppressLint("MissingPermission") // checked first
suspend fun currentLocation(context: Context): Location? {
    if (!hasLocationPermission(context)) return null
    val cancel = CancellationTokenSource()
    return try {
        LocationServices.getFusedLocationProviderClient(context)
            .getCurrentLocation(Priority.PRIORITY_HIGH_ACCURACY, cancel.token)
            .await(cancel)
            ?.let { Location(lat = it.latitude, lon = it.longitude, accuracyM = it.accuracy.toDouble()) }
    } catch (e: Exception) { // location off, or play services missing
        null
    }
}

/** The last known fix, for a photo's location: no wait, no new fix. */
@SuppressLint("MissingPermission") // checked first
suspend fun lastLocation(context: Context): Location? {
    if (!hasLocationPermission(context)) return null
    return try {
        LocationServices.getFusedLocationProviderClient(context).lastLocation.await()
            ?.let { Location(lat = it.latitude, lon = it.longitude, accuracyM = it.accuracy.toDouble()) }
    } catch (e: Exception) {
        null
    }
}

/** A new file for the camera to write into, and the content:// URI it gets through the FileProvider. */
fun newPhotoFile(context: Context): Pair<File, Uri> {
    val dir = File(context.cacheDir, "photos").apply { mkdirs() }
    val file = File.createTempFile("photo-", ".jpg", dir)
    return file to FileProvider.getUriForFile(context, "${context.packageName}.photos", file)
}

/**
 * Opens the maps app at the site (geo: URI, a pin labelled with the customer), or at the
 * address when the ticket has no coordinates. False when no maps app is installed.
 */
fun navigateTo(context: Context, ticket: Ticket): Boolean {
    val site = ticket.site
    val query = if (site != null) {
        "${site.lat},${site.lon}(${Uri.encode(ticket.customer.name)})"
    } else {
        Uri.encode(ticket.customer.address)
    }
    return try {
        context.startActivity(Intent(Intent.ACTION_VIEW, Uri.parse("geo:0,0?q=$query")))
        true
    } catch (e: ActivityNotFoundException) {
        false
    }
}
