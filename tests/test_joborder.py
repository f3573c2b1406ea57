"""Job Order Files: round trips in both flavours, real-world variants, clear errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from lxml import etree

from processor_wrappers.joborder import (
    Flavour,
    IpfProc,
    JobOrder,
    JobOrderInput,
    JobOrderOutput,
    TimeInterval,
    from_xml,
    to_xml,
)
from proseo.errors import JobOrderError

START = datetime(2019, 9, 16, 23, 6, 1, 123456, tzinfo=UTC)
STOP = datetime(2019, 9, 17, 0, 47, 30, tzinfo=UTC)


def _job_order() -> JobOrder:
    return JobOrder(
        processor_name="TROPNLL2DP",
        version="02.04.00",
        stdout_log_level="INFO",
        stderr_log_level="WARNING",
        test=False,
        breakpoint_enable=True,
        acquisition_station="PDGS",
        processing_station="proseo-py",
        config_files=["/conf/a.cfg", "/conf/b.cfg"],
        sensing_start=START,
        sensing_stop=STOP,
        dynamic_parameters=[("threshold", "0.5"), ("orbit", "09982")],
        procs=[
            IpfProc(
                task_name="NO2",
                task_version="02.04.00",
                breakpoint_files=["brk1"],
                inputs=[
                    JobOrderInput(
                        file_type="L1B_RA_BD4",
                        file_names=["/in/a.nc", "/in/b.nc"],
                        time_intervals=[
                            TimeInterval(START, STOP, "/in/a.nc"),
                            TimeInterval(None, None, "/in/b.nc"),
                        ],
                    ),
                    JobOrderInput(
                        file_type="AUX_MET_2D", file_names=["/in/met"], file_name_type="Directory"
                    ),
                ],
                outputs=[JobOrderOutput(file_type="L2__NO2___", file_name="/out/no2.nc")],
            )
        ],
    )


@pytest.mark.parametrize("flavour", list(Flavour))
def test_round_trip(flavour: Flavour) -> None:
    original = _job_order()
    xml = to_xml(original, flavour)
    assert from_xml(xml) == original
    assert to_xml(from_xml(xml), flavour) == xml


def _count(root: etree._Element, path: str) -> str | None:
    element = root.find(path)
    assert element is not None, path
    return element.get("count")


def test_flavours_differ_only_in_list_names() -> None:
    mmfi = etree.fromstring(to_xml(_job_order(), Flavour.MMFI_1_8))
    gmes = etree.fromstring(to_xml(_job_order(), Flavour.GMES_1_1))
    assert mmfi.findtext("Ipf_Conf/Config_Files/Conf_File_Name") == "/conf/a.cfg"
    assert gmes.findtext("Ipf_Conf/List_of_Config_Files/Config_File") == "/conf/a.cfg"
    assert _count(gmes, "Ipf_Conf/List_of_Config_Files") == "2"
    assert (
        mmfi.findtext("Ipf_Conf/Dynamic_Processing_Parameters/Processing_Parameter/Name")
        == "threshold"
    )
    assert (
        gmes.findtext("Ipf_Conf/List_of_Dyn_Processing_Parameters/Dyn_Processing_Parameter/Value")
        == "0.5"
    )
    assert mmfi.findtext("Ipf_Conf/Sensing_Time/Start") == "20190916_230601123456"
    assert _count(mmfi, "List_of_Ipf_Procs/Ipf_Proc/List_of_Inputs") == "2"


REAL_WORLD = b"""<?xml version="1.0" encoding="UTF-8"?>
<Ipf_Job_Order>
  <Ipf_Conf>
    <Version>01.00</Version>
    <Processor_Name>L01B</Processor_Name>
    <Stderr_Log_Level>ERROR</Stderr_Log_Level>
    <Stdout_Log_Level>DEBUG</Stdout_Log_Level>
    <Test>true</Test>
    <Processing_Station>PDGS Matera</Processing_Station>
    <!-- a comment -->
    <List_of_Config_Files count="1"><Config_File>/c.xml</Config_File></List_of_Config_Files>
    <Sensing_Time><Stop>99999999_999999999999</Stop><Start>00000000_000000000000</Start></Sensing_Time>
    <Dynamic_Processing_Parameters>
      <Processing_Parameter><Value>7</Value><Name>Threads</Name></Processing_Parameter>
    </Dynamic_Processing_Parameters>
    <Vendor_Extension mode="x">kept</Vendor_Extension>
  </Ipf_Conf>
  <List_of_Ipf_Procs count="1">
    <Ipf_Proc>
      <Task_Version>1</Task_Version>
      <Task_Name>L01B</Task_Name>
      <List_of_Outputs count="1">
        <Output><File_Name>out.nc</File_Name><File_Name_Type>PHYSICAL</File_Name_Type><File_Type>L1B</File_Type></Output>
      </List_of_Outputs>
      <List_of_Inputs count="1">
        <Input><File_Name_Type>physical</File_Name_Type><File_Type>L0</File_Type>
          <List_of_File_Names count="1"><File_Name>l0.bin</File_Name></List_of_File_Names>
          <Checksum>abc</Checksum>
        </Input>
      </List_of_Inputs>
    </Ipf_Proc>
  </List_of_Ipf_Procs>
</Ipf_Job_Order>
"""


def test_reader_accepts_real_world_variants_and_keeps_unknown_elements() -> None:
    job_order = from_xml(REAL_WORLD)
    assert (job_order.processor_name, job_order.version, job_order.test) == ("L01B", "01.00", True)
    assert (job_order.stdout_log_level, job_order.stderr_log_level) == ("DEBUG", "ERROR")
    assert job_order.config_files == ["/c.xml"]
    assert (job_order.sensing_start, job_order.sensing_stop) == (None, None)
    assert job_order.parameter("Threads") == "7"
    (proc,) = job_order.procs
    assert proc.inputs[0].file_name_type == "Physical"
    assert proc.inputs[0].file_names == ["l0.bin"]
    assert proc.outputs[0].file_name_type == "Physical"
    rewritten = etree.fromstring(to_xml(job_order, Flavour.GMES_1_1))
    assert rewritten.findtext("Ipf_Conf/Vendor_Extension") == "kept"
    vendor = rewritten.find("Ipf_Conf/Vendor_Extension")
    assert vendor is not None
    assert vendor.get("mode") == "x"
    assert rewritten.findtext("List_of_Ipf_Procs/Ipf_Proc/List_of_Inputs/Input/Checksum") == "abc"
    assert from_xml(to_xml(job_order)) == job_order


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda x: x.replace(b"<Processor_Name>L01B</Processor_Name>", b""),
            "Ipf_Conf/Processor_Name is missing",
        ),
        (
            lambda x: x.replace(b"<Stop>99999999_999999999999</Stop>", b"<Stop>2019-09-16</Stop>"),
            "Sensing_Time/Stop: '2019-09-16' is not a Job Order time",
        ),
        (
            lambda x: x.replace(b"<File_Name_Type>PHYSICAL", b"<File_Name_Type>Absolute"),
            "Ipf_Proc[0]/Output[0]/File_Name_Type: 'Absolute'",
        ),
        (
            lambda x: x.replace(b"<Test>true</Test>", b"<Test>yes</Test>"),
            "Ipf_Conf/Test: 'yes' is not true or false",
        ),
        (lambda x: x.replace(b"</Ipf_Job_Order>", b""), "not well-formed XML"),
        (lambda x: x.replace(b"Ipf_Job_Order>", b"Job_Order>"), "expected 'Ipf_Job_Order'"),
    ],
)
def test_malformed_job_orders_name_the_element(mutate: object, message: str) -> None:
    with pytest.raises(JobOrderError) as info:
        from_xml(mutate(REAL_WORLD))  # type: ignore[operator]
    assert message in str(info.value)


def test_naive_time_is_refused() -> None:
    job_order = _job_order()
    job_order.sensing_start = datetime(2019, 1, 1)
    with pytest.raises(JobOrderError, match="naive datetime"):
        to_xml(job_order)
