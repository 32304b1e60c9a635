//! Just enough of an ELF64 little-endian reader to tell whether a binary
//! is static: its program interpreter (`PT_INTERP`) and the libraries it
//! needs (`DT_NEEDED` in `PT_DYNAMIC`). A static-pie binary has a dynamic
//! section (for its own relocations) but neither of those.
//! Layout: the System V gABI, "ELF Header", "Program Header", "Dynamic Section".

/// How a binary is linked.
#[derive(Debug, PartialEq, Eq)]
pub struct Linking {
    /// `PT_INTERP`: the dynamic loader the kernel would start first.
    pub interpreter: Option<String>,
    /// `DT_NEEDED` entries: shared libraries the loader would open.
    pub needed: Vec<String>,
}

const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const PT_LOAD: u32 = 1;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_STRTAB: u64 = 5;

/// Reads the program headers and dynamic section of an ELF64 LE file.
pub fn linking(bytes: &[u8]) -> Result<Linking, String> {
    if bytes.get(..4) != Some(b"\x7fELF") {
        return Err("not an ELF file".into());
    }
    if bytes.get(4) != Some(&2) || bytes.get(5) != Some(&1) {
        return Err("not ELF64 little-endian".into());
    }
    let phoff = usize_at(bytes, 0x20, 8)?;
    let phentsize = usize_at(bytes, 0x36, 2)?;
    let phnum = usize_at(bytes, 0x38, 2)?;
    let mut interpreter = None;
    let mut dynamic = None;
    let mut loads = Vec::new();
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        let kind = u32::try_from(u64_at(bytes, ph, 4)?).map_err(|e| e.to_string())?;
        let offset = usize_at(bytes, ph + 0x08, 8)?;
        let vaddr = u64_at(bytes, ph + 0x10, 8)?;
        let filesz = usize_at(bytes, ph + 0x20, 8)?;
        match kind {
            PT_INTERP => {
                let raw = slice(bytes, offset, filesz)?;
                let text = raw.split(|&b| b == 0).next().unwrap_or_default();
                interpreter = Some(String::from_utf8_lossy(text).into_owned());
            }
            PT_DYNAMIC => dynamic = Some((offset, filesz)),
            PT_LOAD => loads.push((vaddr, offset, filesz)),
            _ => {}
        }
    }
    let mut needed = Vec::new();
    if let Some((offset, size)) = dynamic {
        let mut strtab = None;
        let mut names = Vec::new();
        for entry in slice(bytes, offset, size)?.chunks_exact(16) {
            let tag = u64_at(entry, 0, 8)?;
            let value = u64_at(entry, 8, 8)?;
            match tag {
                DT_NULL => break,
                DT_NEEDED => names.push(value),
                DT_STRTAB => strtab = Some(value),
                _ => {}
            }
        }
        if !names.is_empty() {
            // DT_STRTAB is an address: map it to a file offset through PT_LOAD.
            let addr = strtab.ok_or("DT_NEEDED without DT_STRTAB")?;
            let (vaddr, off, _) = loads
                .iter()
                .find(|(v, _, sz)| addr >= *v && addr < v + *sz as u64)
                .ok_or("DT_STRTAB outside every PT_LOAD")?;
            let base = off + usize::try_from(addr - vaddr).map_err(|e| e.to_string())?;
            for name in names {
                let start = base + usize::try_from(name).map_err(|e| e.to_string())?;
                let rest = bytes.get(start..).ok_or("DT_NEEDED name out of the file")?;
                let text = rest.split(|&b| b == 0).next().unwrap_or_default();
                needed.push(String::from_utf8_lossy(text).into_owned());
            }
        }
    }
    Ok(Linking {
        interpreter,
        needed,
    })
}

fn slice(bytes: &[u8], offset: usize, len: usize) -> Result<&[u8], String> {
    offset
        .checked_add(len)
        .and_then(|end| bytes.get(offset..end))
        .ok_or_else(|| format!("{len} bytes at {offset} are past the end of the file"))
}

fn u64_at(bytes: &[u8], offset: usize, width: usize) -> Result<u64, String> {
    let raw = slice(bytes, offset, width)?;
    Ok(raw
        .iter()
        .rev()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
}

fn usize_at(bytes: &[u8], offset: usize, width: usize) -> Result<usize, String> {
    usize::try_from(u64_at(bytes, offset, width)?).map_err(|e| e.to_string())
}
