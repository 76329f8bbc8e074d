//! `--shapes`: input shapes written `1x3x32x32`, or `images=1x3x32x32,mask=1x32x32` for
//! engines with several inputs.

use trt_core::{EngineInfo, Shape};

use crate::CliError;

/// One `--shapes` value: extents per input, named or in engine input order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShapeSet {
    entries: Vec<(Option<String>, Vec<usize>)>,
}

/// Parses `1x16` or `a=2x4,b=2x4`.
pub fn parse_shape_set(text: &str) -> Result<ShapeSet, String> {
    let entries = text
        .split(',')
        .map(|entry| {
            let (name, extents) = match entry.split_once('=') {
                Some((name, extents)) => (Some(name.trim().to_owned()), extents),
                None => (None, entry),
            };
            if name.as_deref() == Some("") {
                return Err(format!("`{entry}`: the input name before `=` is empty"));
            }
            let extents = extents
                .trim()
                .split('x')
                .map(|extent| {
                    extent.trim().parse::<usize>().map_err(|_| {
                        format!("`{entry}`: expected extents like 4x3x32x32, found `{extent}`")
                    })
                })
                .collect::<Result<Vec<usize>, String>>()?;
            Ok((name, extents))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let named = entries.iter().filter(|(name, _)| name.is_some()).count();
    if named != 0 && named != entries.len() {
        return Err(format!(
            "`{text}`: name every input (`a=1x4,b=1x4`) or none (engine input order)"
        ));
    }
    Ok(ShapeSet { entries })
}

/// The shape of every engine input, in engine input order, for one shape set.
pub fn resolve(set: &ShapeSet, info: &EngineInfo) -> Result<Vec<(String, Shape)>, CliError> {
    let inputs: Vec<_> = info.inputs().collect();
    let by_position = set.entries.iter().all(|(name, _)| name.is_none());
    if by_position && set.entries.len() > inputs.len() {
        return Err(CliError::new(format!(
            "{} shapes given, but engine `{}` has {} input(s)",
            set.entries.len(),
            info.name,
            inputs.len()
        )));
    }
    for (name, _) in &set.entries {
        if let Some(name) = name {
            if !inputs.iter().any(|input| &input.name == name) {
                return Err(CliError::new(format!(
                    "engine `{}` has no input `{name}`; its inputs are {}",
                    info.name,
                    inputs
                        .iter()
                        .map(|input| format!("`{}`", input.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
    }
    inputs
        .iter()
        .enumerate()
        .map(|(position, input)| {
            let given = if by_position {
                set.entries.get(position)
            } else {
                set.entries
                    .iter()
                    .find(|(name, _)| name.as_deref() == Some(input.name.as_str()))
            };
            let shape = match given {
                Some((_, extents)) => Shape::from_extents(extents)?,
                None if !input.shape.is_dynamic() => input.shape,
                None => {
                    return Err(CliError::new(format!(
                        "input `{}` is dynamic ({}); give its shape with --shapes",
                        input.name, input.shape
                    )))
                }
            };
            Ok((input.name.clone(), shape))
        })
        .collect()
}

/// Every input at its optimization profile 0 `opt` shape (or its static shape).
pub fn default_shapes(info: &EngineInfo) -> Vec<(String, Shape)> {
    info.inputs()
        .map(|input| {
            let shape = input
                .profiles
                .first()
                .map_or(input.shape, |profile| profile.opt);
            (input.name.clone(), shape)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use trt_core::{DataType, ProfileShapes, TensorInfo, TensorIoMode};

    fn engine() -> EngineInfo {
        let input = |name: &str, dims: &[i64]| TensorInfo {
            name: name.into(),
            mode: TensorIoMode::Input,
            dtype: DataType::F32,
            shape: Shape::new(dims).unwrap(),
            profiles: vec![ProfileShapes {
                min: Shape::new(&[1, 4]).unwrap(),
                opt: Shape::new(&[2, 4]).unwrap(),
                max: Shape::new(&[8, 4]).unwrap(),
            }],
        };
        EngineInfo {
            name: "two".into(),
            tensors: vec![input("a", &[-1, 4]), input("b", &[2, 4])],
            num_profiles: 1,
            device_memory_size: 0,
            streamable_weights_size: 0,
            weights_size: 0,
        }
    }

    fn shape(dims: &[i64]) -> Shape {
        Shape::new(dims).unwrap()
    }

    #[test]
    fn parses_positional_and_named_sets() {
        let set = parse_shape_set("1x16").unwrap();
        assert_eq!(set.entries, [(None, vec![1, 16])]);
        let set = parse_shape_set("a=2x4, b=3x4").unwrap();
        assert_eq!(
            set.entries,
            [
                (Some("a".into()), vec![2, 4]),
                (Some("b".into()), vec![3, 4])
            ]
        );
        assert!(parse_shape_set("1x").unwrap_err().contains("found ``"));
        assert!(parse_shape_set("a=1x4,2x4")
            .unwrap_err()
            .contains("name every input"));
        assert!(parse_shape_set("=1x4").unwrap_err().contains("empty"));
        assert!(parse_shape_set("1x-4").is_err());
    }

    #[test]
    fn resolves_against_the_engine_inputs() {
        let info = engine();
        let resolved = resolve(&parse_shape_set("3x4").unwrap(), &info).unwrap();
        assert_eq!(
            resolved,
            [("a".into(), shape(&[3, 4])), ("b".into(), shape(&[2, 4]))]
        );
        let named = resolve(&parse_shape_set("b=2x4,a=5x4").unwrap(), &info).unwrap();
        assert_eq!(named[0], ("a".into(), shape(&[5, 4])));
        let unknown = resolve(&parse_shape_set("c=1x4").unwrap(), &info).unwrap_err();
        assert_eq!(
            unknown.to_string(),
            "engine `two` has no input `c`; its inputs are `a`, `b`"
        );
        let missing = resolve(&parse_shape_set("b=2x4").unwrap(), &info).unwrap_err();
        assert!(missing.to_string().contains("input `a` is dynamic"));
        assert!(resolve(&parse_shape_set("1x4,2x4,3x4").unwrap(), &info).is_err());
        assert_eq!(default_shapes(&info)[0], ("a".into(), shape(&[2, 4])));
    }
}
