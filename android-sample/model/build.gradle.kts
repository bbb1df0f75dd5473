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
    // The AAR of bindings/scripts/android-aar.sh (dev.fieldsync.Fieldsync over the generated
    // layer, internal to it, + jni/<abi>/libfieldsync_ffi.so), resolved by coordinates: JNA's AAR,
    // kotlinx-coroutines-android and OkHttp (the HTTP transport) come with it, from its POM.
    api("dev.fieldsync:fieldsync-android:$fieldsyncVersion")
}
