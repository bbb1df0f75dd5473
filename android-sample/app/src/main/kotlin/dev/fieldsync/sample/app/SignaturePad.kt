// The customer signs with a finger: pointer input becomes strokes of points (x, y in 0..1 of
// the pad, t in ms since the first touch), what captureSignature takes. The library draws the
// PNG from them; the pad only shows them.
package dev.fieldsync.sample.app

import androidx.compose.foundation.Canvas
import androidx.compose.foundation.border
import androidx.compose.foundation.gestures.awaitEachGesture
import androidx.compose.foundation.gestures.awaitFirstDown
import androidx.compose.material3.MaterialTheme
import androidx.compose.runtime.Composable
import androidx.compose.runtime.Stable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateListOf
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.geometry.Offset
import androidx.compose.ui.graphics.Path
import androidx.compose.ui.graphics.StrokeCap
import androidx.compose.ui.graphics.StrokeJoin
import androidx.compose.ui.graphics.drawscope.Stroke
import androidx.compose.ui.input.pointer.pointerInput
import androidx.compose.ui.unit.IntSize
import androidx.compose.ui.unit.dp
import dev.fieldsync.StrokePoint

/** The strokes drawn so far; survives recomposition, not configuration changes (sign again). */
@Stable
class SignatureState {
    /** Finished strokes, then the one being drawn. */
    val strokes = mutableStateListOf<List<StrokePoint>>()
    private var current by mutableStateOf<List<StrokePoint>>(emptyList())
    private var firstTouchAt: Long? = null

    val isEmpty: Boolean get() = strokes.isEmpty() && current.isEmpty()

    /** What captureSignature takes. */
    fun toStrokes(): List<List<StrokePoint>> = strokes.toList() + listOfNotNull(current.takeIf { it.isNotEmpty() })

    fun clear() {
        strokes.clear()
        current = emptyList()
        firstTouchAt = null
    }

    internal fun add(position: Offset, size: IntSize, uptimeMillis: Long) {
        val start = firstTouchAt ?: uptimeMillis.also { firstTouchAt = it }
        current = current + StrokePoint(
            x = (position.x / size.width).coerceIn(0f, 1f),
            y = (position.y / size.height).coerceIn(0f, 1f),
            t = (uptimeMillis - start).coerceIn(0, UInt.MAX_VALUE.toLong()).toUInt(),
        )
    }

    internal fun endStroke() {
        if (current.isNotEmpty()) strokes.add(current)
        current = emptyList()
    }
}

@Composable
fun SignaturePad(state: SignatureState, modifier: Modifier = Modifier) {
    val ink = MaterialTheme.colorScheme.onSurface
    Canvas(
        modifier
            .border(1.dp, MaterialTheme.colorScheme.outline)
            .pointerInput(state) {
                // Every change is consumed, so that a scrolling parent does not take the stroke.
                awaitEachGesture {
                    val down = awaitFirstDown()
                    down.consume()
                    state.add(down.position, size, down.uptimeMillis)
                    while (true) {
                        val event = awaitPointerEvent()
                        val change = event.changes.firstOrNull { it.id == down.id } ?: break
                        if (!change.pressed) break
                        change.consume()
                        state.add(change.position, size, change.uptimeMillis)
                    }
                    state.endStroke()
                }
            },
    ) {
        val width = 3.dp.toPx()
        for (stroke in state.toStrokes()) {
            val points = stroke.map { Offset(it.x * size.width, it.y * size.height) }
            if (points.size == 1) {
                drawCircle(ink, radius = width, center = points[0])
                continue
            }
            val path = Path().apply {
                moveTo(points[0].x, points[0].y)
                points.drop(1).forEach { lineTo(it.x, it.y) }
            }
            drawPath(path, ink, style = Stroke(width = width, cap = StrokeCap.Round, join = StrokeJoin.Round))
        }
    }
}
