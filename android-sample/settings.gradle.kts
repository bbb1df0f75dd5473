// The Android sample as an Android Studio project: :app (the Compose screens) over :model (the
// screen model CI also compiles and runs on the JVM, scripts/test-bindings.sh).
//
// The fieldsync AAR is not published: bindings/scripts/android-aar.sh writes
// fieldsync-<version>.aar into <cargo target dir>/android. The ivy repository below reads it
// from there as dev.fieldsync:fieldsync:<version>; set fieldsync.aarDir in gradle.properties (or
// -Pfieldsync.aarDir=...) when CARGO_TARGET_DIR points elsewhere.
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
        val aarDir = providers.gradleProperty("fieldsync.aarDir").getOrElse("../target/android")
        ivy {
            name = "fieldsyncAar"
            url = uri(settingsDir.resolve(aarDir))
            patternLayout { artifact("[artifact]-[revision].[ext]") }
            metadataSources { artifact() }
            content { includeGroup("dev.fieldsync") }
        }
    }
}

rootProject.name = "fieldsync-sample"
include(":model", ":app")
