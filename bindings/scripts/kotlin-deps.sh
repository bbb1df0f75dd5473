# The Kotlin layer's dependencies and compiler flags, in one place: sourced (not run) by
# scripts/test-bindings.sh, bindings/scripts/android-aar.sh and bindings/scripts/publish-maven.sh,
# so that the jar the tests load, the AAR and the published POMs agree.
#
# Needs $cache (the toolchain cache, outside the repo) set by the sourcing script.

# Versions. JNA 5.17 is the first whose Android libjnidispatch.so is aligned for 16 KB pages
# (scripts/test-bindings.sh checks the AAR's); kotlinx-coroutines 1.9.0 is built with Kotlin
# 2.0, so an app on Kotlin 2.0 reads it; OkHttp is the HTTP transport (docs/adr/0015).
fieldsync_jna_version=5.17.0
fieldsync_coroutines_version=1.9.0
fieldsync_okhttp_version=5.5.1
fieldsync_okio_version=3.18.1
# The stdlib the POMs name: the highest any dependency needs (OkHttp 5.5.1's), so that Maven's
# nearest-wins rule never hands OkHttp an older one. Apps on Kotlin 2.0 read its metadata.
fieldsync_kotlin_stdlib_version=2.1.21
fieldsync_kotlin_compiler_version=2.4.20

# kotlinc flags for the library (not the test programs): class files whose metadata Kotlin 2.0
# and 2.1 compilers read, using no API newer than 2.0. Kotlin 2.4 calls language version 2.0
# deprecated; -Xsuppress-version-warnings keeps that one warning from failing -Werror. The
# module name keeps our META-INF/*.kotlin_module from clashing with another library's "main".
fieldsync_kotlinc_flags=(-Werror -Xsuppress-version-warnings -language-version 2.0 -api-version 2.0 -jvm-target 1.8
    -module-name fieldsync)

# Maven's local repository for everything these scripts fetch or resolve: outside the repo,
# beside the other toolchains, so that nothing of ~/.m2 is touched or trusted.
fieldsync_m2="$cache/m2"
# The JVM jars the library compiles against (and the test programs run with).
fieldsync_jars="$cache/maven-jars"
# Maven's dependency plugin, pinned (Maven 3.8's default is 2.8).
fieldsync_mvn_dependency=org.apache.maven.plugins:maven-dependency-plugin:3.8.1

# Fetches the JVM jars once (mvn from Maven Central; idempotent) and sets
# $fieldsync_kotlin_classpath to them.
fieldsync_kotlin_deps() {
    local artifacts=(
        "net.java.dev.jna:jna:$fieldsync_jna_version"
        "org.jetbrains.kotlinx:kotlinx-coroutines-core-jvm:$fieldsync_coroutines_version"
        "com.squareup.okhttp3:okhttp-jvm:$fieldsync_okhttp_version"
        "com.squareup.okio:okio-jvm:$fieldsync_okio_version"
    )
    local artifact group name version jar classpath=""
    for artifact in "${artifacts[@]}"; do
        IFS=: read -r group name version <<<"$artifact"
        jar="$fieldsync_jars/$name-$version.jar"
        if [ ! -f "$jar" ]; then
            command -v mvn >/dev/null || { echo "kotlin-deps: mvn not found: it fetches $artifact" >&2; return 1; }
            echo "== kotlin-deps: fetching $artifact into $fieldsync_jars" >&2
            mvn -q -B -Dstyle.color=never -Dmaven.repo.local="$fieldsync_m2" "$fieldsync_mvn_dependency:copy" -Dartifact="$artifact" \
                -DoutputDirectory="$fieldsync_jars" </dev/null >/dev/null ||
                { echo "kotlin-deps: mvn could not fetch $artifact" >&2; return 1; }
        fi
        classpath="$classpath${classpath:+:}$jar"
    done
    fieldsync_kotlin_classpath=$classpath
}

# The <dependencies> of a POM: `jvm` for the jar, `android` for the AAR (JNA's AAR carries
# libjnidispatch.so for each Android ABI; OkHttp's Gradle metadata picks its Android variant).
fieldsync_pom_dependencies() { # jvm | android
    local jna coroutines okhttp
    case $1 in
        jvm)
            jna="<artifactId>jna</artifactId><version>$fieldsync_jna_version</version>"
            coroutines="<artifactId>kotlinx-coroutines-core</artifactId><version>$fieldsync_coroutines_version</version>"
            okhttp="<artifactId>okhttp-jvm</artifactId><version>$fieldsync_okhttp_version</version>"
            ;;
        android)
            jna="<artifactId>jna</artifactId><version>$fieldsync_jna_version</version><type>aar</type>"
            coroutines="<artifactId>kotlinx-coroutines-android</artifactId><version>$fieldsync_coroutines_version</version>"
            okhttp="<artifactId>okhttp</artifactId><version>$fieldsync_okhttp_version</version>"
            ;;
        *) echo "kotlin-deps: fieldsync_pom_dependencies jvm|android" >&2; return 1 ;;
    esac
    cat <<EOF
  <dependencies>
    <dependency><groupId>net.java.dev.jna</groupId>$jna<scope>compile</scope></dependency>
    <dependency><groupId>org.jetbrains.kotlinx</groupId>$coroutines<scope>compile</scope></dependency>
    <dependency><groupId>com.squareup.okhttp3</groupId>$okhttp<scope>compile</scope></dependency>
    <dependency><groupId>org.jetbrains.kotlin</groupId><artifactId>kotlin-stdlib</artifactId><version>$fieldsync_kotlin_stdlib_version</version><scope>compile</scope></dependency>
  </dependencies>
EOF
}
