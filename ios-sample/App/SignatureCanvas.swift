// The customer signs with a finger: a DragGesture becomes strokes of points (x, y in 0...1 of
// the canvas, t in ms since the first touch), what captureSignature takes; Canvas shows them.
#if canImport(SwiftUI)
import FieldsyncKit
import SwiftUI

struct SignatureCanvas: View {
    @Binding var strokes: [[StrokePoint]]
    @State private var current: [StrokePoint] = []
    @State private var firstTouch: Date?

    var body: some View {
        GeometryReader { geometry in
            let size = geometry.size
            Canvas { context, canvasSize in
                for stroke in strokes + [current] where !stroke.isEmpty {
                    let points = stroke.map { CGPoint(x: CGFloat($0.x) * canvasSize.width, y: CGFloat($0.y) * canvasSize.height) }
                    if points.count == 1 {
                        context.fill(Path(ellipseIn: CGRect(x: points[0].x - 2, y: points[0].y - 2, width: 4, height: 4)), with: .foreground)
                        continue
                    }
                    var path = Path()
                    path.addLines(points)
                    context.stroke(path, with: .foreground, style: StrokeStyle(lineWidth: 3, lineCap: .round, lineJoin: .round))
                }
            }
            .contentShape(Rectangle())
            // minimumDistance 0: a dot counts, and the first point is where the finger landed.
            .gesture(
                DragGesture(minimumDistance: 0, coordinateSpace: .local)
                    .onChanged { value in current.append(point(value.location, in: size, at: value.time)) }
                    .onEnded { _ in
                        if !current.isEmpty { strokes.append(current) }
                        current = []
                    }
            )
        }
        .border(Color.secondary)
        .onChange(of: strokes.isEmpty) { _, cleared in if cleared { firstTouch = nil } }
    }

    private func point(_ location: CGPoint, in size: CGSize, at time: Date) -> StrokePoint {
        let start = firstTouch ?? time
        if firstTouch == nil { firstTouch = time }
        let ms = max(0, time.timeIntervalSince(start) * 1000)
        return StrokePoint(
            x: Float(min(max(location.x / max(size.width, 1), 0), 1)),
            y: Float(min(max(location.y / max(size.height, 1), 0), 1)),
            t: UInt32(min(ms, Double(UInt32.max))))
    }
}
#endif
