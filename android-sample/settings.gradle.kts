// The Android sample as an Android Studio project: :app (the Compose screens) over :model (the
// screen model CI also compiles and runs on the JVM, scripts/test-bindings.sh).
//
// fieldsync comes from a Maven repository by coordinates, dev.fieldsync:fieldsync-android, its
// POM bringing JNA, kotlinx-coroutines and OkHttp: bindings/scripts/android-aar.sh makes the
// AAR, `bindings/scripts/publish-maven.sh --aar <it>` publishes it into <cargo target
// dir>/maven. Set fieldsync.mavenRepo in gradle.properties (or -Pfieldsync.mavenRepo=...) when
// CARGO_TARGET_DIR points elsewhere, or to your own repository's URL.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
        val fieldsyncRepo = providers.gradleProperty("fieldsync.mavenRepo").getOrElse("../target/maven")
        maven {
            name = "fieldsync"
            url = if (fieldsyncRepo.contains("://")) uri(fieldsyncRepo) else uri(settingsDir.resolve(fieldsyncRepo))
            content { includeGroup("dev.fieldsync") }
        }
    }
}

rootProject.name = "fieldsync-sample"
include(":model", ":app")
