//! The container that holds a local run's network namespace: a `FROM scratch` image around a
//! program of some 150 bytes that only waits, written here for the machine's architecture.

use crate::engine::{BuildSpec, Engine};
use crate::error::{Error, Result};

/// The holder of a task's network namespace: a static Linux program for `arch` (Rust's names)
/// that blocks forever and does nothing else, like Kubernetes' pause container, for an image
/// `FROM scratch`. It is a whole ELF file of 150 bytes or so: one loadable segment holding the
/// loop, so that no base image (none may be at hand) and no toolchain is needed. None for an
/// architecture it has no code for.
pub fn pause_program(arch: &str) -> Option<Vec<u8>> {
    const BASE: u64 = 0x40_0000;
    const HEADERS: u64 = 64 + 56;
    let (machine, code): (u16, Vec<u8>) = match arch {
        // loop: mov eax, 34 (pause); syscall; jmp loop
        "x86_64" => (62, vec![0xb8, 34, 0, 0, 0, 0x0f, 0x05, 0xeb, 0xf7]),
        // loop: x0..x3 = 0; x8 = 73 (ppoll with no descriptors and no timeout); svc #0; b loop
        "aarch64" => (
            183,
            [
                0xd280_0000u32,
                0xd280_0001,
                0xd280_0002,
                0xd280_0003,
                0xd280_0928,
                0xd400_0001,
                0x17ff_fffa,
            ]
            .iter()
            .flat_map(|i| i.to_le_bytes())
            .collect(),
        ),
        _ => return None,
    };
    let size = HEADERS + code.len() as u64;
    let mut elf = Vec::with_capacity(size as usize);
    // ELF header: 64-bit, little-endian, version 1, System V; an executable.
    elf.extend([0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
    elf.extend([0; 8]);
    elf.extend(2u16.to_le_bytes());
    elf.extend(machine.to_le_bytes());
    elf.extend(1u32.to_le_bytes());
    elf.extend((BASE + HEADERS).to_le_bytes()); // entry: the code after the headers
    elf.extend(64u64.to_le_bytes()); // program headers right after this header
    elf.extend(0u64.to_le_bytes()); // no section headers
    elf.extend(0u32.to_le_bytes());
    for half in [64u16, 56, 1, 0, 0, 0] {
        elf.extend(half.to_le_bytes()); // sizes and counts of the headers
    }
    // One program header: load the whole file at BASE, readable and executable.
    elf.extend(1u32.to_le_bytes());
    elf.extend(5u32.to_le_bytes());
    for word in [0, BASE, BASE, size, size, 0x1000] {
        elf.extend(word.to_le_bytes());
    }
    elf.extend(code);
    Some(elf)
}

/// The local image of the namespace holder, built the first time (named by its content, so a
/// changed program gets a new image).
pub(crate) async fn holder_image(engine: &Engine) -> Result<String> {
    let arch = std::env::consts::ARCH;
    let program = pause_program(arch).ok_or_else(|| {
        Error::failed(format!(
            "wharf local run has no network holder for this machine's architecture ({arch})"
        ))
    })?;
    let digest = crate::text::hex(&<sha2::Sha256 as sha2::Digest>::digest(&program));
    let tag = format!("wharf-local-holder:{}", &digest[..12]);
    if engine.inspect(&tag).await?.is_some() {
        return Ok(tag);
    }
    let dir = tempfile::Builder::new()
        .prefix("wharf-holder-")
        .tempdir()
        .map_err(|e| Error::failed(format!("cannot create a temporary folder: {e}")))?;
    let write = |name: &str, bytes: &[u8], mode: u32| {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.path().join(name);
        std::fs::write(&path, bytes)
            .and_then(|()| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)))
            .map_err(|e| Error::failed(format!("cannot write {}: {e}", path.display())))
    };
    write("pause", &program, 0o755)?;
    write(
        "Dockerfile",
        b"FROM scratch\nCOPY pause /pause\nENTRYPOINT [\"/pause\"]\n",
        0o644,
    )?;
    let spec = BuildSpec {
        tags: vec![tag.clone()],
        context: dir.path().to_path_buf(),
        dockerfile: dir.path().join("Dockerfile"),
        target: None,
        platform: None,
        args: Vec::new(),
        labels: vec![("wharf.local".into(), "1".into())],
        iidfile: dir.path().join("iid"),
    };
    engine.build("local network holder", &spec, &|_| {}).await?;
    Ok(tag)
}
