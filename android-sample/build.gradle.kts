// Plugin versions, one place. A known-compatible set: AGP 8.7 needs Gradle 8.9+ (the wrapper
// says 8.11.1) and JDK 17; the Compose compiler ships with Kotlin 2.x as its own plugin.
plugins {
    id("com.android.application") version "8.7.3" apply false
    id("com.android.library") version "8.7.3" apply false
    id("org.jetbrains.kotlin.android") version "2.1.0" apply false
    id("org.jetbrains.kotlin.plugin.compose") version "2.1.0" apply false
}
