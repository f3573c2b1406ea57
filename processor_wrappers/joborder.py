"""ESA Generic IPF Job Order Files: writer and tolerant reader (lxml).

Source: ESA "Generic IPF Interface Specifications" (MMFI-GSEG-EOPG-TN-07-0003, issue 1.8)
and the GMES variant (GMES-GSEG-EOPG-TN-09-0016, issue 1.1); the structure is summarised in
shared DOMAIN.md. The two flavours differ only in the names of two lists:

=================  =================================  =============================================
element            MMFI 1.8                           GMES 1.1
=================  =================================  =============================================
config files       ``Config_Files/Conf_File_Name``    ``List_of_Config_Files/Config_File``
dynamic parameters ``Dynamic_Processing_Parameters/``  ``List_of_Dyn_Processing_Parameters/``
                   ``Processing_Parameter``           ``Dyn_Processing_Parameter``
=================  =================================  =============================================

Times are ``YYYYMMDD_hhmmssuuuuuu`` (UTC, microseconds), with the open ends
``00000000_000000000000`` and ``99999999_999999999999`` (read as ``None``).

The reader accepts either list naming whatever the flavour, elements in any order, and
``File_Name_Type`` in any case; elements it does not know are kept (as XML) and written back.
The writer writes one canonical form. This module needs only lxml and the standard library,
so it runs on execution nodes and inside processor images.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from lxml import etree

from proseo.errors import JobOrderError

OPEN_START = "00000000_000000000000"
OPEN_STOP = "99999999_999999999999"
_TIME_FORMAT = "%Y%m%d_%H%M%S%f"


class Flavour(StrEnum):
    """Job Order File flavour (value equals :class:`proseo.enums.JobOrderVersion`)."""

    MMFI_1_8 = "MMFI_1_8"
    GMES_1_1 = "GMES_1_1"


_FILE_NAME_TYPES = {
    "physical": "Physical",
    "logical": "Logical",
    "stem": "Stem",
    "regexp": "Regexp",
    "directory": "Directory",
}


def format_time(moment: datetime | None, *, open_end: str = OPEN_START) -> str:
    """``YYYYMMDD_hhmmssuuuuuu`` of an aware time (UTC); ``None`` gives ``open_end``."""
    if moment is None:
        return open_end
    if moment.tzinfo is None:
        raise JobOrderError(f"naive datetime {moment.isoformat()} in a Job Order (UTC required)")
    return moment.astimezone(UTC).strftime(_TIME_FORMAT)


def parse_time(text: str, element: str = "time") -> datetime | None:
    """Inverse of :func:`format_time`; open ends give ``None``.

    :raises JobOrderError: naming the element and the text.
    """
    text = text.strip()
    if text in (OPEN_START, OPEN_STOP):
        return None
    try:
        return datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise JobOrderError(
            f"{element}: {text!r} is not a Job Order time (YYYYMMDD_hhmmssuuuuuu)"
        ) from None


@dataclass
class TimeInterval:
    """Validity of one input file (``List_of_Time_Intervals/Time_Interval``)."""

    start: datetime | None
    stop: datetime | None
    file_name: str


@dataclass
class JobOrderInput:
    """One ``Input``: a file type and its files."""

    file_type: str
    file_names: list[str]
    file_name_type: str = "Physical"
    time_intervals: list[TimeInterval] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


@dataclass
class JobOrderOutput:
    """One ``Output``: the file the processor must write."""

    file_type: str
    file_name: str
    file_name_type: str = "Physical"
    unknown: list[str] = field(default_factory=list)


@dataclass
class IpfProc:
    """One ``Ipf_Proc`` (a task of the processor)."""

    task_name: str
    task_version: str
    inputs: list[JobOrderInput] = field(default_factory=list)
    outputs: list[JobOrderOutput] = field(default_factory=list)
    breakpoint_files: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


@dataclass
class JobOrder:
    """A Job Order File's content. Sensing times are UTC (``None``: open end)."""

    processor_name: str
    version: str
    procs: list[IpfProc]
    stdout_log_level: str = "INFO"
    stderr_log_level: str = "INFO"
    test: bool = False
    breakpoint_enable: bool = False
    processing_station: str = "proseo-py"
    acquisition_station: str | None = None
    config_files: list[str] = field(default_factory=list)
    sensing_start: datetime | None = None
    sensing_stop: datetime | None = None
    dynamic_parameters: list[tuple[str, str]] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

    def parameter(self, name: str, default: str | None = None) -> str | None:
        """Value of the dynamic processing parameter ``name``."""
        return next((v for n, v in self.dynamic_parameters if n == name), default)

    def inputs_of(self, file_type: str) -> list[JobOrderInput]:
        """All inputs (of all tasks) of ``file_type``."""
        return [i for p in self.procs for i in p.inputs if i.file_type == file_type]


# --- writing ------------------------------------------------------------------------------


def _text(parent: etree._Element, tag: str, value: str) -> etree._Element:
    element = etree.SubElement(parent, tag)
    element.text = value
    return element


def _counted(parent: etree._Element, tag: str, count: int) -> etree._Element:
    return etree.SubElement(parent, tag, count=str(count))


def _append_unknown(parent: etree._Element, kept: list[str]) -> None:
    for xml in kept:
        parent.append(etree.fromstring(xml))


def to_xml(job_order: JobOrder, flavour: Flavour = Flavour.MMFI_1_8) -> bytes:
    """The Job Order File as UTF-8 XML bytes in the given flavour."""
    root = etree.Element("Ipf_Job_Order")
    conf = etree.SubElement(root, "Ipf_Conf")
    _text(conf, "Processor_Name", job_order.processor_name)
    _text(conf, "Version", job_order.version)
    _text(conf, "Stdout_Log_Level", job_order.stdout_log_level)
    _text(conf, "Stderr_Log_Level", job_order.stderr_log_level)
    _text(conf, "Test", str(job_order.test).lower())
    _text(conf, "Breakpoint_Enable", str(job_order.breakpoint_enable).lower())
    if job_order.acquisition_station is not None:
        _text(conf, "Acquisition_Station", job_order.acquisition_station)
    _text(conf, "Processing_Station", job_order.processing_station)
    if flavour is Flavour.GMES_1_1:
        files = _counted(conf, "List_of_Config_Files", len(job_order.config_files))
        for name in job_order.config_files:
            _text(files, "Config_File", name)
    else:
        files = etree.SubElement(conf, "Config_Files")
        for name in job_order.config_files:
            _text(files, "Conf_File_Name", name)
    sensing = etree.SubElement(conf, "Sensing_Time")
    _text(sensing, "Start", format_time(job_order.sensing_start, open_end=OPEN_START))
    _text(sensing, "Stop", format_time(job_order.sensing_stop, open_end=OPEN_STOP))
    if flavour is Flavour.GMES_1_1:
        params = _counted(
            conf, "List_of_Dyn_Processing_Parameters", len(job_order.dynamic_parameters)
        )
        item_tag = "Dyn_Processing_Parameter"
    else:
        params = etree.SubElement(conf, "Dynamic_Processing_Parameters")
        item_tag = "Processing_Parameter"
    for name, value in job_order.dynamic_parameters:
        parameter = etree.SubElement(params, item_tag)
        _text(parameter, "Name", name)
        _text(parameter, "Value", value)
    _append_unknown(conf, job_order.unknown)
    procs = _counted(root, "List_of_Ipf_Procs", len(job_order.procs))
    for proc in job_order.procs:
        element = etree.SubElement(procs, "Ipf_Proc")
        _text(element, "Task_Name", proc.task_name)
        _text(element, "Task_Version", proc.task_version)
        if proc.breakpoint_files:
            brk = etree.SubElement(element, "BreakPoint")
            brk_list = _counted(brk, "List_of_Brk_Files", len(proc.breakpoint_files))
            for name in proc.breakpoint_files:
                _text(brk_list, "Brk_File", name)
        inputs = _counted(element, "List_of_Inputs", len(proc.inputs))
        for item in proc.inputs:
            node = etree.SubElement(inputs, "Input")
            _text(node, "File_Type", item.file_type)
            _text(node, "File_Name_Type", _file_name_type(item.file_name_type, "Input"))
            names = _counted(node, "List_of_File_Names", len(item.file_names))
            for name in item.file_names:
                _text(names, "File_Name", name)
            if item.time_intervals:
                intervals = _counted(node, "List_of_Time_Intervals", len(item.time_intervals))
                for interval in item.time_intervals:
                    ti = etree.SubElement(intervals, "Time_Interval")
                    _text(ti, "Start", format_time(interval.start, open_end=OPEN_START))
                    _text(ti, "Stop", format_time(interval.stop, open_end=OPEN_STOP))
                    _text(ti, "File_Name", interval.file_name)
            _append_unknown(node, item.unknown)
        outputs = _counted(element, "List_of_Outputs", len(proc.outputs))
        for out in proc.outputs:
            node = etree.SubElement(outputs, "Output")
            _text(node, "File_Type", out.file_type)
            _text(node, "File_Name_Type", _file_name_type(out.file_name_type, "Output"))
            _text(node, "File_Name", out.file_name)
            _append_unknown(node, out.unknown)
        _append_unknown(element, proc.unknown)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def write_job_order(job_order: JobOrder, path: Path, flavour: Flavour = Flavour.MMFI_1_8) -> Path:
    """Write the Job Order File to ``path`` (conventionally ``JobOrder.<n>.xml``)."""
    path.write_bytes(to_xml(job_order, flavour))
    return path


# --- reading ------------------------------------------------------------------------------


def _file_name_type(value: str, where: str) -> str:
    canonical = _FILE_NAME_TYPES.get(value.strip().lower())
    if canonical is None:
        raise JobOrderError(
            f"{where}/File_Name_Type: {value!r} is not one of Physical, Logical, Stem, "
            "Regexp, Directory"
        )
    return canonical


def _children(element: etree._Element) -> dict[str, etree._Element]:
    return {child.tag: child for child in element if isinstance(child.tag, str)}


def _required(element: etree._Element, tag: str, where: str) -> str:
    child = element.find(tag)
    if child is None or child.text is None or not child.text.strip():
        raise JobOrderError(f"{where}/{tag} is missing or empty")
    return child.text.strip()


def _optional(element: etree._Element, tag: str, default: str | None = None) -> str | None:
    child = element.find(tag)
    if child is None or child.text is None:
        return default
    return child.text.strip()


def _unknown(element: etree._Element, known: set[str]) -> list[str]:
    return [
        etree.tostring(child, encoding="unicode").strip()
        for child in element
        if isinstance(child.tag, str) and child.tag not in known
    ]


def _texts(parent: etree._Element | None, tag: str) -> list[str]:
    if parent is None:
        return []
    return [(c.text or "").strip() for c in parent.iter(tag)]


_CONF_KNOWN = {
    "Processor_Name",
    "Version",
    "Stdout_Log_Level",
    "Stderr_Log_Level",
    "Test",
    "Breakpoint_Enable",
    "Acquisition_Station",
    "Processing_Station",
    "Config_Files",
    "List_of_Config_Files",
    "Sensing_Time",
    "Dynamic_Processing_Parameters",
    "List_of_Dyn_Processing_Parameters",
}


def _parse_input(node: etree._Element, where: str) -> JobOrderInput:
    intervals = [
        TimeInterval(
            parse_time(
                _required(ti, "Start", f"{where}/Time_Interval"), f"{where}/Time_Interval/Start"
            ),
            parse_time(
                _required(ti, "Stop", f"{where}/Time_Interval"), f"{where}/Time_Interval/Stop"
            ),
            _required(ti, "File_Name", f"{where}/Time_Interval"),
        )
        for ti in node.iter("Time_Interval")
    ]
    return JobOrderInput(
        file_type=_required(node, "File_Type", where),
        file_name_type=_file_name_type(_optional(node, "File_Name_Type", "Physical") or "", where),
        file_names=_texts(node.find("List_of_File_Names"), "File_Name"),
        time_intervals=intervals,
        unknown=_unknown(
            node, {"File_Type", "File_Name_Type", "List_of_File_Names", "List_of_Time_Intervals"}
        ),
    )


def _parse_proc(element: etree._Element, index: int) -> IpfProc:
    where = f"Ipf_Proc[{index}]"
    inputs = [
        _parse_input(node, f"{where}/Input[{i}]")
        for i, node in enumerate(element.iterfind("List_of_Inputs/Input"))
    ]
    outputs = [
        JobOrderOutput(
            file_type=_required(node, "File_Type", f"{where}/Output[{i}]"),
            file_name_type=_file_name_type(
                _optional(node, "File_Name_Type", "Physical") or "", f"{where}/Output[{i}]"
            ),
            file_name=_required(node, "File_Name", f"{where}/Output[{i}]"),
            unknown=_unknown(node, {"File_Type", "File_Name_Type", "File_Name"}),
        )
        for i, node in enumerate(element.iterfind("List_of_Outputs/Output"))
    ]
    return IpfProc(
        task_name=_required(element, "Task_Name", where),
        task_version=_required(element, "Task_Version", where),
        inputs=inputs,
        outputs=outputs,
        breakpoint_files=_texts(element.find("BreakPoint"), "Brk_File"),
        unknown=_unknown(
            element,
            {"Task_Name", "Task_Version", "BreakPoint", "List_of_Inputs", "List_of_Outputs"},
        ),
    )


def _boolean(text: str | None, where: str) -> bool:
    value = (text or "false").strip().lower()
    if value not in ("true", "false"):
        raise JobOrderError(f"{where}: {text!r} is not true or false")
    return value == "true"


def from_xml(data: bytes | str) -> JobOrder:
    """Parse a Job Order File of either flavour.

    :raises JobOrderError: for malformed XML or missing mandatory elements, naming the
        element path.
    """
    try:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True)
        root = etree.fromstring(data.encode() if isinstance(data, str) else data, parser)
    except etree.XMLSyntaxError as error:
        raise JobOrderError(f"not well-formed XML: {error}") from error
    if root.tag != "Ipf_Job_Order":
        raise JobOrderError(f"root element is {root.tag!r}, expected 'Ipf_Job_Order'")
    conf = root.find("Ipf_Conf")
    if conf is None:
        raise JobOrderError("Ipf_Job_Order/Ipf_Conf is missing")
    parameters = [
        (_required(p, "Name", "Ipf_Conf/Processing_Parameter"), _optional(p, "Value", "") or "")
        for p in conf.iter("Processing_Parameter", "Dyn_Processing_Parameter")
    ]
    sensing = conf.find("Sensing_Time")
    return JobOrder(
        processor_name=_required(conf, "Processor_Name", "Ipf_Conf"),
        version=_required(conf, "Version", "Ipf_Conf"),
        stdout_log_level=_optional(conf, "Stdout_Log_Level", "INFO") or "INFO",
        stderr_log_level=_optional(conf, "Stderr_Log_Level", "INFO") or "INFO",
        test=_boolean(_optional(conf, "Test"), "Ipf_Conf/Test"),
        breakpoint_enable=_boolean(
            _optional(conf, "Breakpoint_Enable"), "Ipf_Conf/Breakpoint_Enable"
        ),
        acquisition_station=_optional(conf, "Acquisition_Station"),
        processing_station=_optional(conf, "Processing_Station", "") or "",
        config_files=_texts(conf.find("Config_Files"), "Conf_File_Name")
        + _texts(conf.find("List_of_Config_Files"), "Config_File"),
        sensing_start=None
        if sensing is None
        else parse_time(_required(sensing, "Start", "Ipf_Conf/Sensing_Time"), "Sensing_Time/Start"),
        sensing_stop=None
        if sensing is None
        else parse_time(_required(sensing, "Stop", "Ipf_Conf/Sensing_Time"), "Sensing_Time/Stop"),
        dynamic_parameters=parameters,
        procs=[
            _parse_proc(e, i) for i, e in enumerate(root.iterfind("List_of_Ipf_Procs/Ipf_Proc"))
        ],
        unknown=_unknown(conf, _CONF_KNOWN),
    )


def read_job_order(path: Path) -> JobOrder:
    """Read a Job Order File. :raises JobOrderError: naming the file and the problem."""
    try:
        return from_xml(path.read_bytes())
    except OSError as error:
        raise JobOrderError(f"cannot read Job Order File {path}: {error}") from error
    except JobOrderError as error:
        raise JobOrderError(f"{path.name}: {error}") from error
