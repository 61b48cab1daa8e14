"""The workflow engines HPC users drive containers with, unchanged, from
their Debian packages: cwltool, toil-cwl-runner and snakemake, run as the
normal user against the test registry (plain HTTP: SINGULARITY_NOHTTPS,
which the engines pass through to `singularity pull`).

cwltool runs every tool as `singularity --quiet exec --contain --ipc
--cleanenv --userns|--pid --home OUTDIR:/RANDOM --bind ... --pwd /RANDOM
--net --network none IMAGE ...` with SINGULARITYENV_* for the tool's
environment, and binds staged inputs inside the bound home (nested binds).
snakemake runs `singularity --quiet --silent exec --home CWD ARGS IMAGE sh
-c '...'` after `singularity pull --name HASH.simg docker://...`."""

import json
import os
import shutil
import subprocess
import textwrap
import urllib.parse

import pytest

import imagetools
from conftest import run_as_user

pytestmark = pytest.mark.slow


def _need(tool):
    if not shutil.which(tool):
        pytest.fail(f"{tool} is not installed (tools/deps.sh installs it)", pytrace=False)


@pytest.fixture(scope="module")
def busybox_ref(registry):
    imagetools.push_image(registry, "wf/busybox", "1", imagetools.busybox_image())
    return f"{registry.hostport}/wf/busybox:1"


# Step one: a staged read-only input, a staged writable input (changed in
# place), a script written by InitialWorkDirRequirement, EnvVarRequirement;
# it records what the tool saw. No NetworkAccess: cwltool adds --net
# --network none.
FIRST = """\
cwlVersion: v1.2
class: CommandLineTool
requirements:
  DockerRequirement:
    dockerPull: {image}
  InitialWorkDirRequirement:
    listing:
      - entry: $(inputs.ro_in)
      - entry: $(inputs.rw_in)
        writable: true
      - entryname: step1.sh
        entry: |
          set -e
          cat ro.txt > made.txt
          echo changed >> rw.txt
          cat rw.txt >> made.txt
          echo "greeting=$GREETING" >> made.txt
          echo "home=$HOME" >> made.txt
          echo "pwd=$PWD" >> made.txt
          echo "outdir=$(runtime.outdir)" >> made.txt
          if (echo x >> ro.txt) 2>/dev/null; then echo ro=writable; else echo ro=read-only; fi >> made.txt
          echo "net=\\$(cut -d: -f1 /proc/net/dev | tail -n +3 | tr -d ' ' | tr '\\n' ' ')" >> made.txt
          echo "uid=\\$(id -u)" >> made.txt
  EnvVarRequirement:
    envDef:
      GREETING: hello from cwl
inputs:
  ro_in: File
  rw_in: File
baseCommand: [sh, step1.sh]
outputs:
  made:
    type: File
    outputBinding: {{glob: made.txt}}
"""

SECOND = """\
cwlVersion: v1.2
class: CommandLineTool
requirements:
  DockerRequirement:
    dockerPull: {image}
  InitialWorkDirRequirement:
    listing:
      - $(inputs.made)
inputs:
  made: File
baseCommand: [sh, -c, 'tr a-z A-Z < made.txt > report.txt && echo "home2=$HOME" >> report.txt']
outputs:
  report:
    type: File
    outputBinding: {{glob: report.txt}}
"""

WORKFLOW = """\
cwlVersion: v1.2
class: Workflow
inputs:
  ro_in: File
  rw_in: File
outputs:
  report:
    type: File
    outputSource: second/report
  made:
    type: File
    outputSource: first/made
steps:
  first:
    run: first.cwl
    in: {ro_in: ro_in, rw_in: rw_in}
    out: [made]
  second:
    run: second.cwl
    in: {made: first/made}
    out: [report]
"""


def write_as_user(path, text):
    run_as_user(["sh", "-c", 'cat > "$0"', path], input=text, check=True)


@pytest.fixture
def cwl_dir(user_tmp, busybox_ref):
    write_as_user(os.path.join(user_tmp, "first.cwl"), FIRST.format(image=busybox_ref))
    write_as_user(os.path.join(user_tmp, "second.cwl"), SECOND.format(image=busybox_ref))
    write_as_user(os.path.join(user_tmp, "wf.cwl"), WORKFLOW)
    write_as_user(os.path.join(user_tmp, "ro.txt"), "read-only input\n")
    write_as_user(os.path.join(user_tmp, "rw.txt"), "writable input\n")
    write_as_user(os.path.join(user_tmp, "job.yml"),
                  "ro_in: {class: File, path: ro.txt}\nrw_in: {class: File, path: rw.txt}\n")
    run_as_user(["mkdir", "out", "tmp"], cwd=user_tmp, check=True)
    return user_tmp


def output_path(obj):
    """A CWL output File's host path (toil reports only the location)."""
    return obj.get("path") or urllib.parse.unquote(obj["location"].removeprefix("file://"))


def check_workflow_outputs(d, stdout):
    outputs = json.loads(stdout)
    made = open(output_path(outputs["made"])).read().splitlines()
    report = open(output_path(outputs["report"])).read().splitlines()
    seen = dict(line.split("=", 1) for line in made[3:])
    assert made[:3] == ["read-only input", "writable input", "changed"], made
    assert seen["greeting"] == "hello from cwl", made
    # HOME is the output directory (--home OUTDIR:/RANDOM), also the cwd.
    assert seen["home"] == seen["outdir"] == seen["pwd"], made
    assert seen["home"].startswith("/") and seen["home"] != "/", made
    assert seen["ro"] == "read-only", made
    assert seen["net"].split() == ["lo"], made  # --net --network none
    assert seen["uid"] == str(os.stat(d).st_uid), made
    assert report[:-1] == [line.upper() for line in made], report
    # The second step's HOME is its own output directory (same name inside).
    assert report[-1] == "home2=" + seen["home"], report
    # The inputs on the host are untouched: the writable one was copied.
    assert open(os.path.join(d, "rw.txt")).read() == "writable input\n"
    assert open(os.path.join(d, "ro.txt")).read() == "read-only input\n"


def test_cwltool_two_step_workflow(cwl_dir):
    _need("cwltool")
    d = cwl_dir
    r = run_as_user(["cwltool", "--singularity", "--outdir", f"{d}/out",
                     "--tmpdir-prefix", f"{d}/tmp/", "--tmp-outdir-prefix", f"{d}/tmp/",
                     "wf.cwl", "job.yml"], cwd=d, env={"SINGULARITY_NOHTTPS": "1"},
                    timeout=600)
    assert r.returncode == 0, r.stderr[-4000:]
    assert "--net --network none" in r.stderr or "'--network', 'none'" in r.stderr \
        or "--network \\\n    none" in r.stderr, r.stderr[-4000:]
    check_workflow_outputs(d, r.stdout)
    # cwltool pulled the image once, as a SIF named after the reference.
    assert [f for f in os.listdir(d) if f.endswith(".sif")], os.listdir(d)


def test_toil_cwl_runner_two_step_workflow(cwl_dir):
    _need("toil-cwl-runner")
    d = cwl_dir
    r = run_as_user(["toil-cwl-runner", "--singularity", "--outdir", f"{d}/out",
                     "--jobStore", f"file:{d}/jobstore", "--workDir", f"{d}/tmp",
                     "--logInfo", "wf.cwl", "job.yml"], cwd=d,
                    env={"SINGULARITY_NOHTTPS": "1"}, timeout=900)
    assert r.returncode == 0, r.stderr[-4000:]
    check_workflow_outputs(d, r.stdout)


def test_cwltool_docker_load(cwl_dir, busybox_ref):
    """dockerLoad: cwltool runs `singularity build NAME.sif docker-archive://F`."""
    _need("cwltool")
    d = cwl_dir
    tar = os.path.join(d, "busybox-save.tar")
    subprocess.run(["skopeo", "copy", "--src-tls-verify=false", f"docker://{busybox_ref}",
                    f"docker-archive:{tar}:wf/busybox:1"], check=True, capture_output=True)
    os.chmod(tar, 0o644)
    write_as_user(os.path.join(d, "load.cwl"), textwrap.dedent(f"""\
        cwlVersion: v1.2
        class: CommandLineTool
        requirements:
          DockerRequirement:
            dockerLoad: {tar}
            dockerImageId: loaded-busybox
        inputs: []
        baseCommand: [sh, -c, 'echo "home=$HOME pwd=$PWD" > seen.txt']
        outputs:
          seen: {{type: File, outputBinding: {{glob: seen.txt}}}}
        """))
    r = run_as_user(["cwltool", "--singularity", "--outdir", f"{d}/out",
                     "--tmpdir-prefix", f"{d}/tmp/", "--tmp-outdir-prefix", f"{d}/tmp/",
                     "load.cwl"], cwd=d, timeout=600)
    assert r.returncode == 0, r.stderr[-4000:]
    seen = open(output_path(json.loads(r.stdout)["seen"])).read().split()
    home, pwd = seen[0].split("=")[1], seen[1].split("=")[1]
    assert home == pwd and home.startswith("/") and home != "/", seen
    assert os.path.exists(os.path.join(d, "loaded-busybox.sif"))


# Both rules in the Debian image: snakemake's shell is bash (strict mode),
# which busybox lacks.
SNAKEFILE = """\
rule all:
    input: "report.txt"

rule make:
    output: "made.txt"
    container: "docker://{debian}"
    shell: "cat /extra/x > {{output}}; echo home=$HOME >> {{output}}; echo pwd=$PWD >> {{output}}"

rule report:
    input: "made.txt"
    output: "report.txt"
    container: "docker://{debian}"
    script: "report.py"
"""

REPORT_PY = """\
import os
with open(snakemake.input[0]) as f:
    data = f.read()
with open(snakemake.output[0], "w") as f:
    f.write(data.upper())
    f.write("script rule home=%s\\n" % os.environ["HOME"])
"""


@pytest.fixture(scope="module")
def debian_ref(registry, debian):
    imagetools.push_image(registry, "wf/debian", "1", debian)
    return f"{registry.hostport}/wf/debian:1"


def test_snakemake_shell_and_script_rules(user_tmp, debian_ref):
    _need("snakemake")
    d = user_tmp
    write_as_user(os.path.join(d, "Snakefile"),
                  SNAKEFILE.format(debian=debian_ref))
    write_as_user(os.path.join(d, "report.py"), REPORT_PY)
    run_as_user(["sh", "-c", "mkdir extra && echo from the bind > extra/x"], cwd=d, check=True)
    r = run_as_user(["snakemake", "--cores", "1", "--use-singularity",
                     "--singularity-args", f"-B {d}/extra:/extra --nv"], cwd=d,
                    env={"SINGULARITY_NOHTTPS": "1"}, timeout=900)
    assert r.returncode == 0, r.stderr[-4000:]
    made = open(os.path.join(d, "made.txt")).read()
    # snakemake runs `exec --home CWD`: HOME and the cwd are the work dir.
    assert made == f"from the bind\nhome={d}\npwd={d}\n", made
    report = open(os.path.join(d, "report.txt")).read()
    assert report == made.upper() + f"script rule home={d}\n", report
    # snakemake pulled the image (once) as HASH.simg.
    simgs = [f for f in os.listdir(os.path.join(d, ".snakemake", "singularity"))
             if f.endswith(".simg")]
    assert len(simgs) == 1, simgs
