import { parseSearchQuery, redactSearchQuery, searchedNames, searchedParameterNames } from './search-query';

describe('search strings (AccessEvent.query.text)', () => {
  it.each([
    ['Patient?name=smith', 'Patient', 'Patient?name=*'],
    ['https://fhir.example.org/fhir/R4/Patient?family=O%27Brien&birthdate=1961-02-03', 'Patient', '*/*/Patient?family=*&birthdate=*'],
    ['GET /fhir/Observation?subject:Patient.name=smith&code=8867-4 HTTP/1.1', 'Observation', '*/Observation?subject:Patient.name=*&code=*'],
    ['Patient/_search?name:contains=smi', 'Patient', 'Patient/_search?name:contains=*'],
    ['Patient/MRN-42/Observation?code=8867-4', 'Observation', 'Patient/*/Observation?code=*'],
  ])('reads %s: type, and a redacted form that keeps no value', (text, type, redacted) => {
    expect(parseSearchQuery(text).resourceType).toBe(type);
    expect(redactSearchQuery(text)).toBe(redacted);
  });

  it('redacts text that is not a FHIR search URL whole (an HL7 v2 PIX query)', () => {
    const v2 = 'MSH|^~\\&|CLINIC|HOSP|||20240101||QBP^Q23|1|P|2.5\rQPD|IHE PIX Query|Q1|MRN-42^^^HOSP';
    expect(parseSearchQuery(v2)).toEqual({ parameters: [], urlShaped: false });
    expect(redactSearchQuery(v2)).toBe('[redacted search]');
    expect(redactSearchQuery('')).toBe('[redacted search]');
    expect(redactSearchQuery('Patient?smith&name=jones')).toBe('Patient?*=*&name=*');
  });

  it('finds the searched names (values, OR-ed values and words) and the parameter names', () => {
    const parsed = parseSearchQuery('Patient?name=smith,jones&given=Mary+Ann&birthdate=1961&identifier=urn:x|MRN-1&subject:Patient.family:exact=Nguyen');
    expect(searchedNames(parsed).sort()).toEqual(['Ann', 'Mary', 'Mary Ann', 'Nguyen', 'jones', 'smith']);
    expect(searchedParameterNames(parsed)).toEqual(['name', 'given', 'birthdate', 'identifier', 'family']);
    expect(searchedNames(parseSearchQuery('Patient?identifier=MRN-1'))).toEqual([]);
    // Plain text as some servers log it: raw spaces stay inside the value.
    expect(searchedNames(parseSearchQuery('Patient?family=van der Berg'))).toEqual(['van der Berg', 'van', 'der', 'Berg']);
  });

  it('reads DICOMweb QIDO-RS searches, also with the query string glued on without "?" (dcm4chee-arc)', () => {
    const qido = '/dcm4chee-arc/aets/DCM4CHEE/rs/studies?PatientName=NGUYEN^VAN*&includefield=all';
    expect(redactSearchQuery(qido)).toBe('*/*/*/*/studies?PatientName=*&includefield=*');
    expect(searchedNames(parseSearchQuery(qido))).toEqual(['NGUYEN^VAN', 'NGUYEN', 'VAN']);
    const glued = '/dcm4chee-arc/aets/DCM4CHEE/rs/patientsPatientName=KOWALCZYK*&offset=0&limit=21';
    expect(redactSearchQuery(glued)).toBe('*/*/*/*/patients?PatientName=*&offset=*&limit=*');
    expect(searchedNames(parseSearchQuery(glued))).toEqual(['KOWALCZYK']);
    expect(searchedNames(parseSearchQuery('/rs/studies?00100010=*'))).toEqual([]);
  });

  it('reads the names of an HL7 v2 PDQ query (QPD-3 @PID.5.x pairs), and nothing from a PIX query by identifier', () => {
    const pdq = 'MSH|^~\\&|HL7SND|DCM4CHEE|HL7RCV|HIS|20260303||QBP^Q22^QBP_Q21|1|P|2.5\rQPD|IHE PDQ Query|Q1|@PID.5.1.1^MAGNUSSEN~@PID.5.2^EIRA~@PID.7^19640212|\rRCP|I|';
    const parsed = parseSearchQuery(pdq);
    expect(searchedNames(parsed)).toEqual(['MAGNUSSEN', 'EIRA']);
    expect(searchedParameterNames(parsed)).toEqual(['family', 'given', 'PID-7']);
    expect(redactSearchQuery(pdq)).toBe('[redacted search]');
    expect(searchedNames(parseSearchQuery('MSH|^~\\&|PIX|MAIN||20150217|||QBP^Q23|\rQPD|IHE PIX Query|Q1|MRN-42^^^HOSP|'))).toEqual([]);
  });

  it('never throws on hostile text', () => {
    for (const text of ['%', '?=%E0%A4%A', 'Patient?' + '&'.repeat(10000), 'x'.repeat(100000), 'Patient?name=a\\,b']) {
      expect(() => redactSearchQuery(text)).not.toThrow();
      expect(() => searchedNames(parseSearchQuery(text))).not.toThrow();
    }
    expect(searchedNames(parseSearchQuery('Patient?name=a\\,b'))).toEqual(['a,b', 'a', 'b']);
  });
});
