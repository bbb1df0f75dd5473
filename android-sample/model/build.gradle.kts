// The screen model as an Android library: the same sources CI compiles with kotlinc and runs on
// the JVM (src/main/kotlin); src/check is CI's driver and is not part of the app.
import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    id("com.android.library")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "dev.fieldsync.sample.model"
    compileSdk = 35
    defaultConfig { minSdk = 26 }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

kotlin { compilerOptions { jvmTarget.set(JvmTarget.JVM_17) } }

val fieldsyncVersion = providers.gradleProperty("fieldsync.version").get()

dependencies {
    // The AAR of bindings/scripts/android-aar.sh (dev.fieldsync.Fieldsync + the generated
    // dev.fieldsync.ffi + jni/<abi>/libfieldsync_ffi.so), and what its POM names.
    api("dev.fieldsync:fieldsync:$fieldsyncVersion@aar")
    api("net.java.dev.jna:jna:5.13.0@aar")
    api("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.8.1")
    // The library's HTTP transport (dev.fieldsync.OkHttpTransport, docs/adr/0015).
    api("com.squareup.okhttp3:okhttp:5.5.1")
}
